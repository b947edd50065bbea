/**
 * Managers and the connections they own.
 *
 * A connection is a node-redis 6 client that getConnection made. We keep what we know about it beside it (in a
 * WeakMap), so any machine can tell ours from anything else, and a released one from a live one.
 */
import { inspect } from 'node:util';
import { createClient, type RedisClientType } from 'redis';
import { coded, ErrorCodes } from './errors';
import { LegacyClient } from './legacy';
import { buildClientOptions } from './options';
import { createScaled, topologyOf, type Topology } from './topology';
import { redact, redactError } from './secrets';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RedisClient = RedisClientType<any, any, any, any, any>;

/** What `onUnexpectedFailure` receives: the shape Sails' hooks read. */
export interface UnexpectedFailure extends Error {
  /** 'error': the client reported an error; 'end': the connection to the server was lost. */
  failureType: 'error' | 'end';
  /** The connection concerned. Its `ready` event fires when the server is back. */
  connection: RedisClient | LegacyClient;
  /** What node-redis reported, secrets masked. */
  originalError?: Error;
}

export type FailureHandler = (err: UnexpectedFailure) => void;

const MANAGER = Symbol('machinepack-redis-ts.manager');

/**
 * A connection manager: configuration plus the set of connections it has handed out. It holds the connection
 * string privately; `inspect`, `JSON.stringify` and `url` show it with the password masked.
 */
export class Manager {
  readonly #connectionString: string;
  readonly #clientOptions: Record<string, unknown>;
  /** The connections handed out and not yet released (node-redis 6 clients, or legacy v3-style ones). */
  readonly connections = new Set<RedisClient | LegacyClient>();
  readonly onUnexpectedFailure: FailureHandler | undefined;
  /** The `meta` given to createManager (shown masked). */
  readonly meta: Record<string, unknown> | undefined;
  destroyed = false;
  /** How long a machine call waits for a reply (`meta.commandTimeout`, ms). */
  readonly commandTimeout: number;
  /** One server, a Cluster (`meta.cluster`) or a Sentinel group (`meta.sentinel`). */
  readonly topology: Topology;
  readonly [MANAGER] = true;

  constructor(
    connectionString: string,
    clientOptions: Record<string, unknown>,
    meta: Record<string, unknown> | undefined,
    onUnexpectedFailure: FailureHandler | undefined,
  ) {
    this.#connectionString = connectionString;
    this.#clientOptions = clientOptions;
    this.meta = meta;
    this.onUnexpectedFailure = onUnexpectedFailure;
    this.topology = topologyOf(meta ?? {});
    const t = meta?.commandTimeout;
    this.commandTimeout = typeof t === 'number' && t > 0 ? t : DEFAULT_COMMAND_TIMEOUT_MS;
  }

  /** The connection string with its password masked. */
  get url(): string {
    return redact(this.#connectionString);
  }

  /** Connections handed out, as the original's `redisClients` array. */
  get redisClients(): Array<RedisClient | LegacyClient> {
    return [...this.connections];
  }

  /** @internal The full client options for a new connection. */
  clientOptions(legacy: boolean): ReturnType<typeof buildClientOptions> {
    return buildClientOptions(this.#connectionString, this.#clientOptions, legacy);
  }

  toJSON(): Record<string, unknown> {
    return { url: this.url, connections: this.connections.size, destroyed: this.destroyed };
  }

  [inspect.custom](): string {
    return `Manager { url: '${this.url}', connections: ${this.connections.size}, destroyed: ${this.destroyed} }`;
  }
}

export function isManager(value: unknown): value is Manager {
  return value instanceof Manager;
}

interface ConnectionState {
  manager: Manager;
  released: boolean;
  /** The node-redis 6 client (the handle itself, or what a legacy handle wraps). */
  client: RedisClient;
  watch: ReplyWatch;
  kind: Topology['kind'];
}

/** How long a machine call waits for Redis to answer anything before it gives up (`meta.commandTimeout`). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;

/**
 * Bounds the wait for replies on one connection. node-redis 6 waits forever for a reply from a server that
 * accepted the command and then hung (SIGSTOP, a stuck host): its own timeout covers only the write, and a
 * socket timeout is reset by every write. So machine calls are counted here (no wrapper per call: a counter and
 * one shared callback); if calls are waiting and no reply of ours has arrived for `timeoutMs`, the connection is
 * reset: node-redis rejects every waiting command (→ `badConnection`) and the same connection reconnects in the
 * background, working again as soon as the server answers.
 */
class ReplyWatch {
  #pending = 0;
  #progress = 0;
  #seen = 0;
  #stalled = 0;
  #timer: NodeJS.Timeout | undefined;
  /** When the last reset happened (ms since epoch), 0 for never: it names the cause of the rejections. */
  resetAt = 0;
  readonly #done = () => {
    this.#pending--;
    this.#progress++;
  };
  /** Rejecters of waiting calls, when calls are rejected one by one rather than by a reset. */
  readonly #waiting: Set<(err: Error) => void> | undefined;
  constructor(
    readonly timeoutMs: number,
    private readonly onHang: () => void,
    rejectEach = false,
  ) {
    if (rejectEach) this.#waiting = new Set();
  }

  track<T>(p: Promise<T>): Promise<T> {
    this.#pending++;
    if (!this.#timer) this.#start();
    if (!this.#waiting) {
      p.then(this.#done, this.#done);
      return p;
    }
    // Cluster and Sentinel clients cannot be reset and reconnected as one: each waiting call is rejected instead.
    const waiting = this.#waiting;
    return new Promise<T>((resolve, reject) => {
      waiting.add(reject);
      p.then(
        (v) => {
          if (waiting.delete(reject)) this.#done();
          resolve(v);
        },
        (err: unknown) => {
          if (waiting.delete(reject)) this.#done();
          reject(err);
        },
      );
    });
  }

  #start(): void {
    const tick = Math.max(10, Math.min(500, this.timeoutMs / 4));
    this.#seen = this.#progress;
    this.#stalled = 0;
    this.#timer = setInterval(() => {
      if (this.#pending <= 0) return this.stop();
      if (this.#progress !== this.#seen) {
        this.#seen = this.#progress;
        this.#stalled = 0;
        return;
      }
      this.#stalled += tick;
      if (this.#stalled < this.timeoutMs) return;
      this.#stalled = 0;
      this.resetAt = Date.now();
      if (this.#waiting) {
        const err = new NoReplyError(this.timeoutMs);
        const waiting = [...this.#waiting];
        this.#waiting.clear();
        this.#pending -= waiting.length;
        for (const reject of waiting) reject(err);
      }
      this.onHang();
    }, tick);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Redis accepted commands and then did not answer within the command timeout. */
export class NoReplyError extends Error {
  readonly code = 'E_REDIS_NO_REPLY';
  constructor(ms: number) {
    super(
      `Redis did not answer within ${ms} ms (the server may be hung or overloaded). Change the bound with meta.commandTimeout.`,
    );
    this.name = 'NoReplyError';
  }
}

/** Run a command of a machine under its connection's reply bound. */
export function bounded<T>(client: RedisClient, p: Promise<T>): Promise<T> {
  const state = states.get(client);
  return state ? state.watch.track(p) : p;
}

/** The reset, when a connection's server stopped answering: reject what waits, reconnect in the background. */
function resetHung(state: ConnectionState, handle: RedisClient | LegacyClient): void {
  if (state.released) return;
  report(
    state.manager,
    handle,
    'error',
    new NoReplyError(state.watch.timeoutMs),
    `Redis did not answer within ${state.watch.timeoutMs} ms${state.kind === 'single' ? '; resetting the connection' : ''}.`,
  );
  if (state.kind !== 'single') return; // a Cluster or Sentinel client recovers its nodes itself
  void Promise.resolve(state.client.destroy()).catch(() => undefined);
  if (!state.released) state.client.connect().catch(() => undefined);
}
const states = new WeakMap<object, ConnectionState>();

/** Why `value` cannot be used as a connection, or undefined when it can. */
export function connectionProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return 'The connection must be a connection from getConnection().';
  const state = states.get(value);
  if (!state) return 'This is not a connection made by getConnection() of this pack.';
  if (state.released) return 'This connection was already released.';
  return undefined;
}

/** The live connection, or undefined when `value` is not one of ours or was released. */
export function liveConnection(value: unknown): RedisClient | undefined {
  const state = typeof value === 'object' && value !== null ? states.get(value) : undefined;
  return state && !state.released ? state.client : undefined;
}

/** Errors that mean the connection, not the command, failed: reported through `badConnection`. */
const CONNECTION_ERRORS = new Set([
  'ClientClosedError',
  'ClientOfflineError',
  'SocketClosedUnexpectedlyError',
  'ConnectionTimeoutError',
  'SocketTimeoutError',
  'DisconnectsClientError',
  'ReconnectStrategyError',
  'NoReplyError',
]);
/** Socket-level error codes: the connection broke under the command. */
const SOCKET_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ENOTCONN',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_DESTROYED',
  'ERR_SOCKET_CLOSED',
]);
export function isConnectionError(err: unknown): boolean {
  return (
    err instanceof Error &&
    (CONNECTION_ERRORS.has(err.constructor.name) || SOCKET_CODES.has((err as { code?: string }).code ?? ''))
  );
}

function classify(err: Error | undefined): Error {
  if (!err) return coded('E_REDIS_CONNECTION_FAILED', 'Could not connect to Redis.');
  const cause = (err as { originalError?: Error }).originalError ?? err;
  const message = redact(cause.message);
  const code = (cause as { code?: string }).code;
  if (code === 'ECONNREFUSED')
    return coded(ErrorCodes.ECONNREFUSED, `Redis refused the connection: ${message}`, {
      originalError: redactError(cause),
    });
  if (/^WRONGPASS|invalid password/i.test(message)) {
    return coded(
      ErrorCodes.BAD_PASSWORD,
      'The password (or username and password) supplied to the Redis server was incorrect.',
      { originalError: redactError(cause) },
    );
  }
  if (/AUTH <password> called without any password configured/.test(message)) {
    return coded('ERR_PASSWORD_NOT_NEEDED', 'A password was given but the Redis server has none configured.', {
      originalError: redactError(cause),
    });
  }
  if (/^NOAUTH/.test(message)) {
    return coded(ErrorCodes.NO_PASSWORD, 'The Redis server requires a password, but none was supplied.', {
      originalError: redactError(cause),
    });
  }
  return coded(code ?? 'E_REDIS_CONNECTION_FAILED', `Could not connect to Redis: ${message}`, {
    originalError: redactError(cause),
  });
}

function report(
  manager: Manager,
  client: RedisClient | LegacyClient,
  failureType: 'error' | 'end',
  original: Error | undefined,
  message: string,
): void {
  const handler = manager.onUnexpectedFailure;
  if (!handler) return;
  const err = new Error(message) as UnexpectedFailure;
  err.failureType = failureType;
  err.connection = client;
  if (original) err.originalError = redactError(original);
  try {
    handler(err);
  } catch (thrown) {
    // A throwing handler must not become an uncaught exception inside node-redis' event loop.
    process.emitWarning(`onUnexpectedFailure threw: ${redact(String(thrown))}`);
  }
}

/**
 * Open a connection for `manager`. Settles within `timeoutMs`: with the client (ready for commands), or with an
 * Error whose `code` says why; a client that failed is destroyed, leaving no socket, timer or retry loop.
 * A single server, a Cluster or a Sentinel group alike; `legacy` wraps a single-server client in the v3 shim.
 */
export function openConnection(
  manager: Manager,
  timeoutMs: number,
  legacy = false,
): Promise<RedisClient | LegacyClient> {
  if (legacy && manager.topology.kind !== 'single') {
    return Promise.reject(
      coded(
        'E_UNSUPPORTED',
        '`legacyMode` connections are single-server only; not available with meta.cluster or meta.sentinel.',
      ),
    );
  }
  return establish(manager, timeoutMs, legacy, false).catch((err: Error & { code?: string }) => {
    // v3 connected (with a warning) when given a password the server does not need; RESP2 refuses it. Do as v3.
    if (err.code !== 'ERR_PASSWORD_NOT_NEEDED') throw err;
    process.emitWarning(
      'machinepack-redis-ts: a password was given but the Redis server has none; connecting without it.',
      { code: 'MPR_PASSWORD_NOT_NEEDED' },
    );
    return establish(manager, timeoutMs, legacy, true);
  });
}

/**
 * While the first connect is in progress, give up at once (node-redis would otherwise retry forever and connect()
 * would never settle). Once connected, reconnect in the background: the caller's strategy if it gave one, else
 * capped exponential backoff, never giving up (also after a socket timeout).
 */
function strategy(isReady: () => boolean, userStrategy: unknown) {
  return (retries: number, cause: Error) => {
    if (!isReady()) return cause instanceof Error ? cause : new Error(String(cause));
    if (userStrategy !== undefined) {
      return typeof userStrategy === 'function'
        ? (userStrategy as (r: number, c: Error) => number | false | Error)(retries, cause)
        : (userStrategy as number | false);
    }
    return Math.min(2 ** retries * 50, 2000) + Math.floor(Math.random() * 100);
  };
}

function establish(
  manager: Manager,
  timeoutMs: number,
  legacy: boolean,
  dropPassword: boolean,
): Promise<RedisClient | LegacyClient> {
  const topology = manager.topology;
  const what = topology.kind === 'single' ? 'Redis' : `the Redis ${topology.kind}`;
  return new Promise((resolve, reject) => {
    let ready = false;
    let settled = false;
    let lastError: Error | undefined;
    let down = false;
    let handle: RedisClient | LegacyClient;
    const options = manager.clientOptions(legacy) as Record<string, unknown>;
    if (dropPassword) {
      delete options.password;
      if (typeof options.url === 'string') options.url = dropUrlPassword(options.url);
    }
    const socket = options.socket as Record<string, unknown>;
    socket.reconnectStrategy = strategy(() => ready, socket.reconnectStrategy);

    let client: RedisClient;
    try {
      client = (topology.kind === 'single' ? createClient(options) : createScaled(topology, options)) as RedisClient;
    } catch (err) {
      reject(coded('E_INVALID_CLIENT_OPTIONS', `Invalid Redis client options: ${redact((err as Error).message)}`));
      return;
    }
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      void Promise.resolve(client.destroy()).catch(() => undefined);
      reject(
        coded(
          ErrorCodes.CONNECTION_TIMED_OUT,
          `Took too long to connect to ${what} at ${manager.url} (more than ${timeoutMs} ms). ` +
            'Change the allowed time with the `timeout` input of getConnection.' +
            (lastError ? ` Last error: ${redact(lastError.message)}` : ''),
        ),
      );
    }, timeoutMs);

    const onError = (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      if (!ready) lastError = e;
      else report(manager, handle, 'error', e, `Error emitted from ${what}: ${redact(e.message)}`);
    };
    // node-redis 6 emits no `end` on an unexpected drop (v3 did). The first `reconnecting` of an outage is where
    // the connection was lost: report it as 'end', as the original did, so `once('ready')` can follow.
    const onDown = () => {
      if (!ready || down) return;
      down = true;
      report(manager, handle, 'end', lastError, `${what} connection lost; reconnecting in the background.`);
    };
    const onUp = () => (down = false);
    client.on('error', onError).on('reconnecting', onDown).on('ready', onUp);
    if (topology.kind !== 'single') {
      // Cluster nodes and Sentinel-managed clients report through their own events.
      client
        .on('node-error', onError)
        .on('client-error', onError)
        .on('node-reconnecting', onDown)
        .on('node-ready', onUp);
    }

    client.connect().then(
      () => {
        ready = true;
        if (settled) return void Promise.resolve(client.destroy()).catch(() => undefined);
        settled = true;
        clearTimeout(timer);
        handle = legacy ? new LegacyClient(client, legacyHooks(manager, timeoutMs)) : client;
        const state: ConnectionState = {
          manager,
          released: false,
          client,
          watch: new ReplyWatch(manager.commandTimeout, () => resetHung(state, handle), topology.kind !== 'single'),
          kind: topology.kind,
        };
        states.set(handle, state);
        if (handle !== client) states.set(client, state);
        manager.connections.add(handle);
        hideSecrets(client);
        resolve(handle);
      },
      (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void Promise.resolve(client.destroy()).catch(() => undefined);
        reject(classify(lastError ?? err));
      },
    );
  });
}

/** Which kind of connection this is: one server, a Cluster or a Sentinel group (undefined: not ours). */
export function connectionKind(value: unknown): Topology['kind'] | undefined {
  return typeof value === 'object' && value !== null ? states.get(value)?.kind : undefined;
}

function dropUrlPassword(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    if (!u.username) return url.replace(/\/\/[^@/]*@/, '//');
    return u.toString();
  } catch {
    return url;
  }
}

function legacyHooks(manager: Manager, timeoutMs: number) {
  return {
    release: (c: LegacyClient) => void releaseConnection(c),
    duplicate: async () => {
      if (manager.destroyed) throw coded('E_MANAGER_DESTROYED', 'The manager of this connection was destroyed.');
      return (await openConnection(manager, timeoutMs, true)) as LegacyClient;
    },
  };
}

/** node-redis keeps its options in private fields; still, make `inspect` of a connection say nothing it holds. */
function hideSecrets(client: RedisClient): void {
  Object.defineProperty(client, inspect.custom, {
    value: () => `RedisConnection { ready: ${client.isReady} }`,
    enumerable: false,
  });
}

/** Release a connection: mark it, forget it, close its socket at once. Returns false if it was not live. */
export function releaseConnection(value: unknown): boolean {
  const state = typeof value === 'object' && value !== null ? states.get(value) : undefined;
  if (!state || state.released) return false;
  state.released = true;
  state.manager.connections.delete(value as RedisClient | LegacyClient);
  state.watch.stop();
  void Promise.resolve(state.client.destroy()).catch(() => undefined);
  return true;
}

/** The `badConnection` report for a value that is not a live connection, or for a connection-level error. */
export function badConnectionReport(reason: string | Error, connection?: unknown): { error: Error } {
  if (typeof reason === 'string') return { error: coded('E_BAD_CONNECTION', reason) };
  const state =
    connection !== undefined && typeof connection === 'object' && connection !== null
      ? states.get(connection)
      : undefined;
  if (state && reason.constructor.name === 'DisconnectsClientError' && Date.now() - state.watch.resetAt < 1000) {
    return { error: new NoReplyError(state.watch.timeoutMs) };
  }
  return {
    error: coded('E_BAD_CONNECTION', `The Redis connection is not usable: ${redact(reason.message)}`, {
      originalError: redactError(reason),
    }),
  };
}
