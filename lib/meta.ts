/**
 * `meta` → node-redis 6 client options.
 *
 * `meta` takes node-redis 6 options as they are, and also the node-redis v3 names found in Sails configurations,
 * translated by the table below. Keys that only make sense to Sails (a datastore's `identity`, `adapter`, `url`…)
 * are dropped quietly; any other unknown key is dropped with one warning per key per process. Nothing in `meta`
 * fails the call except a value of the wrong type for an option we translate.
 */
import { invalidInput, WarningCodes } from './errors';
import { describeValue, isDictionary } from './options';
import { MAX_TIMER_MS } from './timers';

/** node-redis 6 `createClient` options passed through unchanged. */
const V6_KEYS = new Set([
  'socket',
  'username',
  'password',
  'credentialsProvider',
  'name',
  'database',
  'modules',
  'scripts',
  'functions',
  'RESP',
  'commandsQueueMaxLength',
  'disableOfflineQueue',
  'readonly',
  'pingInterval',
  'commandOptions',
  'clientSideCache',
  'disableClientInfo',
  'clientInfoTag',
  'emitInvalidate',
  'maintNotifications',
  'typeMapping',
]);

/** Options of this pack, read elsewhere (not client options). */
const OWN_KEYS = new Set(['legacyMode', 'cluster', 'sentinel', 'commandTimeout', 'nearCache']);

/**
 * Keys Sails, its hooks and its adapters pass in `meta` routinely, meaningless to a Redis client: dropped quietly.
 * - a datastore config (sails-hook-orm, sails-redis): identity, adapter, url, schema…, `onUnexpectedFailure`;
 * - the session config (Sails' session hook passes all of `sails.config.session` but host/port/pass/db/url/
 *   adapter/prefix): express-session's and connect-redis' options, Sails' own `isSessionDisabled`,
 *   `handleConstructingSessionStore`, `routesDisabled`;
 * - the sockets adapter options (sails-hook-sockets): socket.io-redis' options and the admin bus' client names.
 */
const SAILS_KEYS = new Set([
  // datastore
  'identity',
  'adapter',
  'url',
  'host',
  'port',
  'path',
  'schema',
  'user',
  'pass',
  'sessionKey',
  'prefix',
  'adapterType',
  'migrate',
  'onUnexpectedFailure',
  // session (express-session, connect-redis, Sails)
  'secret',
  'cookie',
  'isSessionDisabled',
  'handleConstructingSessionStore',
  'routesDisabled',
  'resave',
  'saveUninitialized',
  'rolling',
  'proxy',
  'genid',
  'unset',
  'store',
  'client',
  'key',
  'ttl',
  'disableTTL',
  'disableTouch',
  'scanCount',
  'serializer',
  'logErrors',
  // sockets (sails-hook-sockets, socket.io-redis)
  'onRedisDisconnect',
  'onRedisReconnect',
  'pubClient',
  'subClient',
  'pubClientName',
  'subClientName',
  'subEvent',
  'requestsTimeout',
  'publishOnSpecificResponseChannel',
  'parser',
]);

/**
 * Keys only an express-session config has: `meta` holding one of them is Sails' session config, whose `name` is
 * the session cookie's name (`sails.sid`), not a name for the Redis connection.
 */
const SESSION_MARKERS = [
  'secret',
  'cookie',
  'isSessionDisabled',
  'handleConstructingSessionStore',
  'saveUninitialized',
];

/** v3 options that have no effect on node-redis 6, and why (the README's table says the same). */
const V3_IGNORED: Record<string, string> = {
  family: 'pass `socket.family` instead',
  rename_commands: 'not supported by node-redis 6',
};

/**
 * v3 options whose default (false) is what node-redis 6 does anyway: silent when false (sails-redis passes them
 * in every datastore config), a warning when set to ask for something we do not do.
 */
const V3_IGNORED_WHEN_SET: Record<string, string> = {
  return_buffers: 'node-redis 6 returns strings; ask for Buffers per command with a type mapping instead',
  detect_buffers: 'node-redis 6 returns strings; ask for Buffers per command with a type mapping instead',
  string_numbers: 'node-redis 6 returns numbers as RESP gives them',
};

/** v3 options with nothing to do on node-redis 6, and nothing lost: always silent. */
const V3_SILENT = new Set([
  // v3's INFO ready check: node-redis 6 is ready when its handshake is done, and a LOADING server is retried.
  'no_ready_check',
]);

/** Whether `meta` is an express-session config (see SESSION_MARKERS). */
export function isSessionConfig(meta: Record<string, unknown>): boolean {
  return SESSION_MARKERS.some((k) => meta[k] !== undefined);
}

const warned = new Set<string>();
function warnOnce(key: string, why: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(`machinepack-redis-ts: meta.${key} is ignored (${why}).`, { code: WarningCodes.META_IGNORED });
}

/** The v3 `retry_strategy` signature. */
export type V3RetryStrategy = (options: {
  attempt: number;
  total_retry_time: number;
  error: Error;
  times_connected: number;
}) => number | Error | null | undefined;
type ReconnectStrategy = (retries: number, cause: Error) => number | false | Error;

function num(meta: Record<string, unknown>, key: string): number | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
    throw invalidInput(`\`meta.${key}\` must be a non-negative number (got ${describeValue(v)}).`);
  return n;
}

/**
 * A duration option (ms) made safe for a Node.js timer: a number ≥ 0, else an `E_INVALID_INPUT` error naming it;
 * anything longer than a timer can wait (2^31 − 1 ms, about 24.8 days), `Infinity` included, is clamped to that
 * (a timer given more fires after 1 ms with a warning). One rule for every duration: see RELIABILITY.md, "Durations".
 */
export function durationOption(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || Number.isNaN(n) || n < 0)
    throw invalidInput(`\`${name}\` must be a non-negative number of milliseconds (got ${describeValue(value)}).`);
  return Math.min(n, MAX_TIMER_MS);
}

/** A v6 `reconnectStrategy` from v3's `retry_strategy`, `max_attempts` and `retry_max_delay`. */
export function v3ReconnectStrategy(
  retry: V3RetryStrategy | undefined,
  maxAttempts: number | undefined,
  maxDelay: number | undefined,
): ReconnectStrategy {
  let total = 0;
  let timesConnected = 1;
  return (retries, cause) => {
    if (retries === 0) total = 0;
    let delay: number | false | Error;
    if (retry) {
      const answer = retry({
        attempt: retries + 1,
        total_retry_time: total,
        error: cause,
        times_connected: timesConnected,
      });
      // v3 stopped retrying on anything that was not a number.
      delay = typeof answer === 'number' ? answer : answer instanceof Error ? answer : false;
    } else if (maxAttempts !== undefined && maxAttempts > 0 && retries + 1 >= maxAttempts) {
      delay = new Error(`Redis connection lost and ${maxAttempts} reconnection attempts (meta.max_attempts) failed.`);
    } else {
      delay = Math.min(2 ** retries * 50, 2000);
    }
    if (typeof delay === 'number') {
      if (maxDelay !== undefined) delay = Math.min(delay, maxDelay);
      total += delay;
      if (retries === 0) timesConnected++;
    }
    return delay;
  };
}

/** v3 options translated to node-redis 6 ones by `translateMeta`. */
const V3_TRANSLATED = new Set([
  'auth_pass',
  'db',
  'connect_timeout',
  'retry_strategy',
  'max_attempts',
  'retry_max_delay',
  'enable_offline_queue',
  'socket_nodelay',
  'socket_keepalive',
  'tls',
  'socket_initial_delay',
]);

/** Every option name `meta` knows (node-redis 6, translated v3, ignored v3, this pack's own). */
export function metaOptionNames(): string[] {
  return [
    ...V6_KEYS,
    ...V3_TRANSLATED,
    ...Object.keys(V3_IGNORED),
    ...Object.keys(V3_IGNORED_WHEN_SET),
    ...V3_SILENT,
    ...OWN_KEYS,
  ];
}

/**
 * Translate `meta` into node-redis 6 client options (a fresh object; `meta` is not changed).
 * Throws (an `E_INVALID_INPUT` error naming the key) only for a translated option of the wrong type.
 */
export function translateMeta(meta: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const socket: Record<string, unknown> = isDictionary(meta.socket) ? { ...meta.socket } : {};
  const session = isSessionConfig(meta);
  for (const [key, value] of Object.entries(meta)) {
    if (value === undefined) continue;
    if (key === 'name' && session) {
      continue; // the session cookie's name (see SESSION_MARKERS)
    } else if (key === 'socket' && typeof value === 'string') {
      // sails-hook-sockets' `socket` (a unix socket path for socket.io-redis' own clients); v3 ignored it too.
      warnOnce(key, 'a unix socket path here is not used; give a unix:///path/to/redis.sock connection string');
    } else if (V6_KEYS.has(key)) {
      if (key !== 'socket') out[key] = value;
    } else if (OWN_KEYS.has(key) || SAILS_KEYS.has(key) || V3_SILENT.has(key)) {
      continue;
    } else if (key in V3_IGNORED) {
      warnOnce(key, V3_IGNORED[key]!);
    } else if (key in V3_IGNORED_WHEN_SET) {
      if (value !== false && value !== null) warnOnce(key, V3_IGNORED_WHEN_SET[key]!);
    } else if (!V3_TRANSLATED.has(key)) {
      warnOnce(key, 'not a node-redis option');
    }
  }
  if (meta.socket !== undefined && typeof meta.socket !== 'string' && !isDictionary(meta.socket))
    throw invalidInput(`\`meta.socket\` must be a dictionary (got ${describeValue(meta.socket)}).`);

  // v3 → v6
  if (meta.auth_pass !== undefined && out.password === undefined) out.password = meta.auth_pass;
  if (out.password !== undefined && typeof out.password !== 'string')
    throw invalidInput('`meta.password` must be a string.');
  const db = num(meta, 'db');
  if (db !== undefined && out.database === undefined) {
    if (!Number.isInteger(db)) throw invalidInput(`\`meta.db\` must be a whole number (got ${db}).`);
    out.database = db;
  }
  const connectTimeout = durationOption(meta.connect_timeout, 'meta.connect_timeout');
  if (connectTimeout !== undefined && socket.connectTimeout === undefined) socket.connectTimeout = connectTimeout;
  if (meta.retry_strategy !== undefined && typeof meta.retry_strategy !== 'function')
    throw invalidInput('`meta.retry_strategy` must be a function.');
  const maxAttempts = num(meta, 'max_attempts');
  const maxDelay = num(meta, 'retry_max_delay');
  if (
    socket.reconnectStrategy === undefined &&
    (meta.retry_strategy !== undefined || maxAttempts !== undefined || maxDelay !== undefined)
  ) {
    socket.reconnectStrategy = v3ReconnectStrategy(
      meta.retry_strategy as V3RetryStrategy | undefined,
      maxAttempts,
      maxDelay,
    );
  }
  if (meta.enable_offline_queue !== undefined && out.disableOfflineQueue === undefined)
    out.disableOfflineQueue = !meta.enable_offline_queue;
  if (meta.socket_nodelay !== undefined && socket.noDelay === undefined) socket.noDelay = Boolean(meta.socket_nodelay);
  if (meta.socket_keepalive !== undefined && socket.keepAlive === undefined)
    socket.keepAlive = Boolean(meta.socket_keepalive);
  const initialDelay = num(meta, 'socket_initial_delay');
  if (initialDelay !== undefined && socket.keepAliveInitialDelay === undefined)
    socket.keepAliveInitialDelay = initialDelay;
  if (meta.tls !== undefined && meta.tls !== false && meta.tls !== null) {
    if (meta.tls !== true && !isDictionary(meta.tls))
      throw invalidInput('`meta.tls` must be true or a dictionary of TLS options.');
    Object.assign(socket, meta.tls === true ? {} : meta.tls, { tls: true });
  }
  if (meta.commandTimeout !== undefined && (typeof meta.commandTimeout !== 'number' || !(meta.commandTimeout > 0))) {
    throw invalidInput(
      `\`meta.commandTimeout\` must be a positive number of milliseconds (got ${describeValue(meta.commandTimeout)}).`,
    );
  }
  // node-redis' own timers: clamped (or refused) here, not turned into 1 ms timers by Node.
  for (const key of ['connectTimeout', 'socketTimeout'] as const) {
    if (socket[key] !== undefined) socket[key] = durationOption(socket[key], `meta.socket.${key}`);
  }
  if (out.pingInterval !== undefined) out.pingInterval = durationOption(out.pingInterval, 'meta.pingInterval');
  if (isDictionary(out.commandOptions) && out.commandOptions.timeout !== undefined) {
    out.commandOptions = {
      ...out.commandOptions,
      timeout: durationOption(out.commandOptions.timeout, 'meta.commandOptions.timeout'),
    };
  }
  if (!session && meta.name !== undefined && typeof meta.name !== 'string')
    throw invalidInput('`meta.name` must be a string.');
  out.socket = socket;
  return out;
}
