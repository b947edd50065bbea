/**
 * From a connection string and `meta` to node-redis 6 client options.
 */
import type { RedisClientOptions } from 'redis';
import { showConnectionString } from './secrets';

/** A plain dictionary (not an array, function, Date, class instance or null). */
export function isDictionary(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

const SCHEMES = new Set(['redis:', 'rediss:', 'unix:']);

/**
 * Check a connection string. Returns the reason it is unusable, or undefined when it is fine.
 * Messages never quote the credentials.
 */
export function connectionStringProblem(connectionString: unknown): string | undefined {
  if (typeof connectionString !== 'string' || connectionString.trim() === '') {
    return `The connection string must be a non-empty string like "redis://127.0.0.1:6379/0" (got ${describeValue(connectionString)}).`;
  }
  if (/[\t\n\r]/.test(connectionString.trim())) {
    return (
      'The connection string contains a tab or a line break, which URL parsing drops silently (the password sent ' +
      'would not be the one given); percent-encode them (%09, %0A, %0D).'
    );
  }
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return `The connection string ${showConnectionString(connectionString)} is not a valid URL (a "/", "?", "#" or "@" in a password must be percent-encoded); expected redis://[user[:password]@]host[:port][/db], rediss://… or unix:///path.sock.`;
  }
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    // node-redis would fail every connect with "URI malformed"; the string itself is not shown (a password).
    return 'The connection string has a malformed percent-encoding in its user name or password (a "%" not followed by two hex digits); write a "%" as %25.';
  }
  if (!SCHEMES.has(url.protocol)) {
    return `The connection string ${showConnectionString(connectionString)} uses the scheme "${url.protocol}"; only redis:, rediss: and unix: are supported.`;
  }
  if (url.protocol !== 'unix:') {
    const db = url.pathname.replace(/^\//, '');
    if (db !== '' && !/^\d+$/.test(db)) {
      return `The connection string ${showConnectionString(connectionString)} names the database ${/@|%40/i.test(db) ? '(not shown)' : `"${db}"`}; it must be a whole number.`;
    }
    const query = url.searchParams.get('db');
    if (query !== null && !/^\d+$/.test(query)) {
      return `The connection string ${showConnectionString(connectionString)} has ?db=${JSON.stringify(query)}; it must be a whole number.`;
    }
    if (query !== null && db !== '' && Number(query) !== Number(db)) {
      return `The connection string ${showConnectionString(connectionString)} names two databases (/${db} and ?db=${query}); give one.`;
    }
  }
  return undefined;
}

/** A short description of a value for error messages (never the value itself when it could be large or secret). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return value.length > 60 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'object')
    return isDictionary(value) ? 'a dictionary' : `an instance of ${value.constructor?.name ?? 'an unknown class'}`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return 'a BigInt';
  if (typeof value === 'number') return String(value);
  return typeof value;
}

/** `{ database }` from a redis:// or rediss:// URL's `?db=N` (validated by the connection-string check), else `{}`. */
function queryDatabase(connectionString: string): { database?: number } {
  if (!/^rediss?:/i.test(connectionString) || !connectionString.includes('db=')) return {};
  try {
    const q = new URL(connectionString).searchParams.get('db');
    return q !== null && /^\d+$/.test(q) ? { database: Number(q) } : {};
  } catch {
    return {};
  }
}

/** The client options for one connection: the caller's options, the URL, and our defaults underneath. */
export function buildClientOptions(
  connectionString: string,
  options: Record<string, unknown>,
  legacy = false,
): RedisClientOptions {
  const socket = { ...((options.socket as Record<string, unknown> | undefined) ?? {}) };
  return {
    // Commands fail at once while the connection is down instead of queueing without a bound: a cache or
    // session store is better served by a fast `badConnection` than by a call that waits for the server.
    // Legacy (v3-style) connections queue, as v3 did by default (`enable_offline_queue`).
    disableOfflineQueue: !legacy,
    // v3 spoke RESP2, and its callers expect RESP2's reply shapes.
    ...(legacy ? { RESP: 2 } : {}),
    // node-redis 6 arms an AbortSignal timer on every command by default (5 s to be WRITTEN; it does not bound
    // the reply). Our reply watch bounds what matters (see lib/connection/reply-watch.ts), and the per-command signal is the
    // single largest cost of a command in a profile, so it is off unless the caller sets commandOptions.
    commandOptions: { timeout: 0 },
    ...options,
    socket,
    url: connectionString,
    // node-redis 6 reads the database from the URL's path only; v3 (and machinepack-redis 2.0.7) also honoured
    // `?db=N`, which Sails configs use. Like the path, it wins over an option given beside it.
    ...queryDatabase(connectionString),
  } as RedisClientOptions;
}
