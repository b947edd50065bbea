/**
 * `createClient(...)`'s arguments → the server, database and credentials to use.
 *
 * Every form node-redis v3 accepted resolves as v3 resolved it (its `lib/createClient.js` and the RedisClient
 * constructor): `(options)`, `(port[, host][, options])` with a number or numeric-string port, `(url[, options])`,
 * `(socketPath[, options])`, `{ url }`, `{ host, port, db, password, user, path, tls, family }`; node-redis 6's
 * `{ socket: { host, port, path, tls }, database, username }` too. What v3 read from a URL (host, port, `/db`,
 * credentials, query options such as `?db=3`) wins over the same option given beside it, as in v3.
 *
 * Where v3 silently fell back (a port it could not read became 6379, an unknown option was ignored) this throws a
 * TypeError naming the option: data written to a server the caller did not mean is worse than an error.
 */
import path from 'node:path';
import { ErrorCodes } from './errors';
import { translateMeta, metaOptionNames } from './meta';
import { describeValue, isDictionary } from './options';
import { redact, showConnectionString } from './secrets';
import { didYouMean } from './suggest';

/** Where `createClient` connects, and everything else it was given. */
export interface ResolvedClientArgs {
  /** A credential-free URL: `redis://host:port`, `rediss://host:port` or `unix:///path`. */
  connectionString: string;
  /** `meta` for createManager: database, credentials, TLS options and the caller's other client options. */
  meta: Record<string, unknown>;
  /** The facade's own options. */
  facade: { syncInterval?: number; connectTimeout?: number; retryDelay?: number };
}

/** The smallest `syncInterval` (ms) a collection copy takes. */
export const MIN_SYNC_INTERVAL_MS = 10;
const FACADE_KEYS = ['syncInterval', 'connectTimeout', 'retryDelay'] as const;
/** v3 (and 6) names of the server's address and credentials, resolved here rather than passed on. */
const ADDRESS_KEYS = ['url', 'host', 'port', 'path', 'db', 'database', 'user', 'username', 'password', 'auth_pass'];
const ADDRESS_ONLY = new Set(['url', 'host', 'port', 'path', 'db', 'user', 'auth_pass', 'family']);
const SECRET_KEYS = new Set(['password', 'auth_pass']);

function fail(message: string): TypeError & { code: string } {
  const err = new TypeError(`createClient: ${redact(message)}`) as TypeError & { code: string };
  err.code = ErrorCodes.INVALID_INPUT;
  return err;
}

const USAGE =
  'pass a redis:// URL, a unix socket path, an options object ({ host, port, db, password, path, url, tls… }), ' +
  '(port, host, options) or (port, options)';

function options(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isDictionary(value)) throw fail(`${where} must be an options object (got ${describeValue(value)}); ${USAGE}.`);
  return { ...value };
}

/** A port as v3 read it (a number or a numeric string), refused unless it is a usable TCP port. */
function portOf(value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535)
    throw fail(`port must be a whole number from 1 to 65535, or a numeric string (got ${describeValue(value)}).`);
  return n;
}

function dbOf(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
    throw fail(`${name} must be a database number (a whole number, 0 or more; got ${describeValue(value)}).`);
  return n;
}

/** Set `key` from a URL: the URL wins over the same option given beside it, as in v3. */
function fromUrl(o: Record<string, unknown>, key: string, value: unknown): void {
  o[key] = value;
}

/** Read a URL (or a socket path, as v3 did for a string that is not a URL) into `o`. */
function applyUrl(o: Record<string, unknown>, raw: unknown): void {
  if (typeof raw !== 'string' || raw.trim() === '')
    throw fail(`url must be a non-empty string (got ${describeValue(raw)}).`);
  let text = raw.trim();
  // v3 treated a string without `//` and without a host as a unix socket path.
  if (!text.includes('//') && (text.startsWith('/') || text.startsWith('.'))) {
    fromUrl(o, 'path', text);
    return;
  }
  if (text.startsWith('//')) text = `redis:${text}`;
  if (text.startsWith('unix:')) {
    applyUnixUrl(o, text);
    return;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw fail(
      `${showConnectionString(text)} is neither a redis URL nor a socket path; expected redis://[user[:password]@]host[:port][/db][?db=N], rediss://…, unix:///path.sock or /path/to/redis.sock.`,
    );
  }
  if (!text.includes('//'))
    throw fail(
      `${showConnectionString(text)} is neither a redis URL nor a socket path; expected redis://host:port[/db], rediss://…, unix:///path.sock or /path/to/redis.sock (or give { host, port }).`,
    );
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw fail(
      `${showConnectionString(text)} uses the scheme "${url.protocol}"; only redis:, rediss: and unix: are supported.`,
    );
  if (url.protocol === 'rediss:' && !o.tls) o.tls = isDictionary(o.tls) ? o.tls : true;
  if (url.username) fromUrl(o, 'user', decodeURIComponent(url.username));
  if (url.password) fromUrl(o, 'password', decodeURIComponent(url.password));
  if (url.hostname) fromUrl(o, 'host', url.hostname.replace(/^\[(.*)\]$/, '$1'));
  if (url.port) fromUrl(o, 'port', url.port);
  const db = url.pathname.replace(/^\//, '');
  if (db !== '') fromUrl(o, 'db', dbOf(db, `The database in ${showConnectionString(text)}`));
  applyQuery(o, url.searchParams, text);
}

/** `unix:///path/to.sock[?db=N]` (and `unix://user:pass@/path`, as node-redis 6 reads it). */
function applyUnixUrl(o: Record<string, unknown>, text: string): void {
  const match = /^unix:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\/[^?#]*)(?:\?([^#]*))?$/.exec(text);
  if (!match || match[3] === '/')
    throw fail(`${showConnectionString(text)} is not a valid unix socket URL; expected unix:///path.sock.`);
  const [, user, password, rawPath, query] = match;
  if (user) fromUrl(o, 'user', decodeURIComponent(user));
  if (password) fromUrl(o, 'password', decodeURIComponent(password));
  fromUrl(o, 'path', decodeURIComponent(rawPath!));
  applyQuery(o, new URLSearchParams(query ?? ''), text);
}

/** v3 copied every query parameter into the options, refusing one also given beside the URL with another value. */
function applyQuery(o: Record<string, unknown>, params: URLSearchParams, text: string): void {
  for (const [key, value] of params) {
    const given = o[key];
    if (given !== undefined && String(given) !== value) {
      const shown = SECRET_KEYS.has(key) ? '' : ` (${describeValue(given)} beside the URL, "${value}" in it)`;
      throw fail(
        `the option "${key}" is given twice with different values${shown}; URL: ${showConnectionString(text)}.`,
      );
    }
    o[key] = key === 'db' ? dbOf(value, `?db= in ${showConnectionString(text)}`) : value;
  }
}

/** Put v3's argument forms into one options object (v3's `unifyOptions`). */
function unify(args: unknown[]): Record<string, unknown> {
  if (args.length > 3) throw fail(`too many arguments (${args.length}); ${USAGE}.`);
  const [a, b, c] = args;
  if (typeof a === 'number' || (typeof a === 'string' && /^\d+$/.test(a.trim()))) {
    let o: Record<string, unknown>;
    if (typeof b === 'string') o = options(c, 'The third argument');
    else {
      if (b !== undefined && b !== null && c !== undefined)
        throw fail(`after a port, pass (port, host, options) or (port, options); ${USAGE}.`);
      o = options(b ?? c, 'The argument after the port');
    }
    if (typeof b === 'string') o.host = b;
    o.port = a;
    return o;
  }
  if (typeof a === 'string') {
    if (c !== undefined) throw fail(`after a URL or socket path, pass only an options object; ${USAGE}.`);
    const o = options(b, 'The argument after the URL');
    applyUrl(o, a);
    return o;
  }
  if (a === undefined || isDictionary(a)) {
    if (b !== undefined || c !== undefined) throw fail(`after an options object, pass nothing else; ${USAGE}.`);
    const o = options(a, 'The options');
    if (o.url !== undefined) {
      const url = o.url;
      delete o.url;
      applyUrl(o, url);
    }
    return o;
  }
  throw fail(`cannot use ${describeValue(a)} as the first argument; ${USAGE}.`);
}

function pick(o: Record<string, unknown>, v3: string, v6: string, what: string): unknown {
  const a = o[v3];
  const b = o[v6];
  if (a !== undefined && b !== undefined && a !== b && !(what === 'database' && String(a) === String(b)))
    throw fail(`${v3} and ${v6} are both given and differ; give the ${what} once.`);
  return a ?? b;
}

/** Resolve `createClient`'s arguments. Throws a TypeError (`code` E_INVALID_INPUT) naming what it cannot honour. */
export function resolveClientArgs(args: unknown[]): ResolvedClientArgs {
  const o = unify(args);
  const known = new Set([...metaOptionNames(), ...ADDRESS_KEYS, ...FACADE_KEYS, 'family']);
  for (const key of Object.keys(o)) {
    if (!known.has(key) && o[key] !== undefined)
      throw fail(`unknown option "${key}"${didYouMean(key, [...known]) || ' (see ClientOptions in the README)'}`);
  }
  const facade: ResolvedClientArgs['facade'] = {};
  for (const key of FACADE_KEYS) {
    const v = o[key];
    if (v === undefined) continue;
    // Infinity and anything past 2^31 − 1 ms are clamped where they reach a timer (RELIABILITY.md, "Durations").
    if (typeof v !== 'number' || !(v > 0))
      throw fail(`${key} must be a positive number of milliseconds (got ${describeValue(v)}).`);
    // The copy's periodic check cannot run more often than this (the subscribeCollection machine's floor).
    if (key === 'syncInterval' && v < MIN_SYNC_INTERVAL_MS)
      throw fail(`syncInterval must be ${MIN_SYNC_INTERVAL_MS} ms or more (got ${describeValue(v)}).`);
    facade[key] = v;
    delete o[key];
  }

  if (o.socket !== undefined && !isDictionary(o.socket))
    throw fail(`socket must be a dictionary of node-redis socket options (got ${describeValue(o.socket)}).`);
  const socket: Record<string, unknown> = { ...((o.socket as Record<string, unknown> | undefined) ?? {}) };
  const sock = { host: socket.host, port: socket.port, path: socket.path };
  delete socket.host;
  delete socket.port;
  delete socket.path;
  const host = pick({ host: o.host, sh: sock.host }, 'host', 'sh', 'host') ?? undefined;
  const port = pick({ port: o.port, sp: sock.port }, 'port', 'sp', 'port');
  const socketPath = pick({ path: o.path, sp: sock.path }, 'path', 'sp', 'socket path');
  const db = pick(o, 'db', 'database', 'database');
  const password = o.password ?? o.auth_pass;
  const user = pick(o, 'user', 'username', 'user name');

  const meta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) {
    if (!ADDRESS_ONLY.has(key) && !ADDRESS_KEYS.includes(key) && key !== 'socket' && key !== 'tls') meta[key] = value;
  }

  let connectionString: string;
  if (socketPath !== undefined) {
    if (typeof socketPath !== 'string' || socketPath.trim() === '')
      throw fail(`path must be the unix socket's path (got ${describeValue(socketPath)}).`);
    if (host !== undefined || port !== undefined)
      throw fail(
        `both a unix socket path and a host/port are given; node-redis v3 would have used the socket and ignored the host/port. Give one of them.`,
      );
    if (o.tls) throw fail('tls cannot be used with a unix socket path.');
    const absolute = path.resolve(socketPath);
    connectionString = `unix://${absolute.split('/').map(encodeURIComponent).join('/')}`;
  } else {
    if (host !== undefined && (typeof host !== 'string' || host.trim() === ''))
      throw fail(`host must be a non-empty string (got ${describeValue(host)}).`);
    const h = (host as string | undefined) ?? '127.0.0.1';
    const p = port === undefined ? 6379 : portOf(port);
    const tls = o.tls ?? socket.tls;
    if (tls !== undefined && tls !== null && typeof tls !== 'boolean' && !isDictionary(tls))
      throw fail(`tls must be true or a dictionary of TLS options (got ${describeValue(tls)}).`);
    if (isDictionary(tls)) Object.assign(socket, tls);
    if (tls) socket.tls = true;
    connectionString = `${tls ? 'rediss' : 'redis'}://${h.includes(':') ? `[${h}]` : h}:${p}`;
  }
  if (o.family !== undefined) {
    const family = o.family === 'IPv6' || o.family === 6 ? 6 : o.family === 'IPv4' || o.family === 4 ? 4 : undefined;
    if (family === undefined) throw fail(`family must be 'IPv4', 'IPv6', 4 or 6 (got ${describeValue(o.family)}).`);
    socket.family = family;
  }
  if (db !== undefined) meta.database = dbOf(db, 'db');
  if (password !== undefined) {
    if (typeof password !== 'string') throw fail('password must be a string.');
    meta.password = password;
  }
  if (user !== undefined) {
    if (typeof user !== 'string' || user === '')
      throw fail(`user must be a non-empty string (got ${describeValue(user)}).`);
    meta.username = user;
  }
  if (Object.keys(socket).length > 0) meta.socket = socket;
  try {
    translateMeta(meta); // refuses a translated option of the wrong type now, not at the first command
  } catch (err) {
    throw fail((err as Error).message.replace(/`meta\.([^`]+)`/g, '$1'));
  }
  return { connectionString, meta, facade };
}
