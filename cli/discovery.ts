/**
 * What the command line needs from Redis beyond the facade: a checked connection (so a bad URL, a refused
 * connection or a wrong password end the command at once with one line, where the facade would keep retrying),
 * and discovery: which databases and collections exist. Discovery reads the storage layout of
 * lib/collections/codec.ts with SCAN (never KEYS, which blocks Redis on a large keyspace).
 */
import Pack, { ErrorCodes, type Connection, type Manager } from '../index';
import { collectionKeys } from '../lib/collections/codec';
import { redact } from '../lib/secrets';
import { CliError, displayUrl } from './args';
import { escapeInvisible } from './text';

const { createManager, getConnection, destroyManager } = Pack.promises;

/** How long connecting may take before the command gives up. */
export const CONNECT_TIMEOUT_MS = 5000;
/** How long `get` and `watch` wait for the local copy to load (after connecting) before giving up. */
export const LOAD_TIMEOUT_MS = 10000;
/** Keys asked for per SCAN / SSCAN step. */
const SCAN_COUNT = 1000;

export interface Session {
  connection: Connection;
  close(): Promise<void>;
}

/** Connect, or throw a CliError whose one-line message says why (never quoting a password). */
export async function openSession(url: string, password: string | undefined): Promise<Session> {
  const where = displayUrl(url);
  let manager: Manager;
  try {
    ({ manager } = await createManager({ connectionString: url, meta: password ? { password } : {} }));
  } catch (err) {
    throw new CliError(`Bad --url: ${oneLine(err)}`, 2);
  }
  try {
    const { connection } = await getConnection({ manager, timeout: CONNECT_TIMEOUT_MS });
    return { connection, close: () => destroyManager({ manager }).then(() => undefined) };
  } catch (err) {
    await destroyManager({ manager }).catch(() => undefined);
    throw new CliError(connectFailure(err, where));
  }
}

/** The one-line reason a connection failed. */
export function connectFailure(err: unknown, where: string): string {
  const cause = (err as { raw?: { error?: { code?: string } } }).raw?.error ?? (err as { code?: string });
  switch (cause?.code) {
    case ErrorCodes.ECONNREFUSED:
      return `Cannot connect to ${where}: connection refused (is redis-server running there?).`;
    case ErrorCodes.BAD_PASSWORD:
      return `Cannot connect to ${where}: wrong password (or username).`;
    case ErrorCodes.NO_PASSWORD:
      return `Cannot connect to ${where}: the server needs a password; put it in the URL or in REDISCLI_AUTH.`;
    case ErrorCodes.CONNECTION_TIMED_OUT:
      return `Cannot connect to ${where}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s.`;
    default:
      return `Cannot connect to ${where}: ${oneLine(cause ?? err)}`;
  }
}

/**
 * An error's message on one line, secrets masked, any other control or invisible character (it may quote a key or
 * a reply from Redis) escaped as `\uXXXX`.
 */
export function oneLine(err: unknown): string {
  const message = err instanceof Error || (err && typeof err === 'object') ? (err as Error).message : String(err);
  return escapeInvisible(
    redact(String(message ?? err))
      .replace(/\s+/g, ' ')
      .trim(),
  );
}

export interface CollectionInfo {
  database: string;
  collection: string;
  /** Items that exist now (expired ones not yet pruned from the member set are not counted). */
  items: number;
  /** The revision of the collection's last write (its stamp, the meta's `t`; 0 before any write). */
  revision: number;
}

/** Escape SCAN MATCH's glob characters. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

const META_KEY = /^memis:\{([^{}/:]+)\/([^{}/:]+)\}:meta$/;

async function scan(connection: Connection, pattern: string, visit: (key: string) => void): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = (await connection.sendCommand([
      'SCAN',
      cursor,
      'MATCH',
      pattern,
      'COUNT',
      String(SCAN_COUNT),
    ])) as [string, string[]];
    cursor = String(next);
    for (const key of keys) visit(String(key));
  } while (cursor !== '0');
}

/** The names of the collections of one database, or of every database, as `[database, collection]` pairs. */
export async function findCollections(connection: Connection, database?: string): Promise<Array<[string, string]>> {
  const pattern =
    database === undefined ? 'memis:{*}:meta' : `memis:{${globEscape(encodeURIComponent(database))}/*}:meta`;
  const found = new Map<string, [string, string]>(); // SCAN may return a key twice
  await scan(connection, pattern, (key) => {
    const m = META_KEY.exec(key);
    if (!m) return;
    try {
      const pair: [string, string] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
      if (database === undefined || pair[0] === database) found.set(key, pair);
    } catch {
      // Not one of ours (not URI-encoded): skip it.
    }
  });
  return [...found.values()].sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
}

/** Item count and revision of one collection: its member set walked with SSCAN, each member checked to exist. */
export async function describeCollection(
  connection: Connection,
  database: string,
  collection: string,
): Promise<CollectionInfo> {
  const keys = collectionKeys(database, collection);
  const stamp = (await connection.sendCommand(['HGET', keys.meta, 't'])) as string | null;
  let items = 0;
  let cursor = '0';
  do {
    const [next, members] = (await connection.sendCommand([
      'SSCAN',
      keys.index,
      cursor,
      'COUNT',
      String(SCAN_COUNT),
    ])) as [string, string[]];
    cursor = String(next);
    // Sent together: node-redis pipelines commands issued in the same tick.
    const exists = await Promise.all(
      members.map((m) => connection.sendCommand(['EXISTS', keys.item(String(m))]) as Promise<number>),
    );
    for (const e of exists) items += Number(e);
  } while (cursor !== '0');
  return { database, collection, items, revision: Number(stamp ?? 0) || 0 };
}

/** Whether a collection has ever been written (its meta hash exists). */
export async function collectionExists(connection: Connection, database: string, collection: string): Promise<boolean> {
  return Number(await connection.sendCommand(['EXISTS', collectionKeys(database, collection).meta])) === 1;
}
