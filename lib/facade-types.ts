/**
 * The facade's contract: what `createClient()` returns, as interfaces and event maps. The classes in
 * lib/facade.ts implement these; only these are exported from the package, so the implementation's internals
 * (connections, replicas, reporting) are not part of the public types.
 */
import type { RedisClientOptions } from 'redis';
import type { ConnectionOptions } from 'node:tls';
import type { EventList, EventMap, EventNames, ListenerOf } from './emitter';
import type { ErrorCodes } from './errors';

/** The events of a collection. */
export type CollectionEvent = 'set' | 'expire' | 'delete';

/** What a collection listener gets besides the key and the item. */
export interface ChangeInfo {
  /** The event being delivered (useful in a listener added with `multi`). */
  event: CollectionEvent;
  /** The database of the collection. */
  database: string;
  /** The collection's name. */
  collection: string;
  /**
   * The revision of `data`: for `set` the item's new revision, for `delete` and `expire` the revision of the last
   * copy held. Revisions are write stamps (Redis's clock in µs): they only grow, so a larger one is a later write.
   */
  revision: number;
}

/** An item of the local copy with its revision and deadline (`collection.entry(key)`). */
export interface Entry<T> {
  /** The item's contents. */
  data: T;
  /**
   * The item's revision: the stamp of its last write (Redis's clock in µs, a safe integer). It grows with every
   * write of the item and is never handed out twice (not after a FLUSHALL, a restart empty or from an older
   * snapshot); pass it as `ifRevision` to write only if nobody wrote the item since.
   */
  revision: number;
  /** When the item expires: epoch milliseconds on Redis's clock, or `null` without a TTL. */
  expiresAt: number | null;
}

/** Options of `set` (and of a batch's `set`). */
export interface SetOptions {
  /** Seconds until the item expires (fractions allowed, at most 100 years). Without it the item stays. */
  ttl?: number;
  /**
   * Write only if the item still has this revision (`entry(key).revision`); `0`: only if it does not exist.
   * Otherwise nothing is written and the promise rejects with `code` `ErrorCodes.CONFLICT` (E_CONFLICT) and the current `revision`.
   */
  ifRevision?: number;
}

/** Options of `del` (and of a batch's `del`). */
export interface DelOptions {
  /**
   * Delete only if the item still has this revision; otherwise nothing is deleted and the promise rejects with
   * `code` `ErrorCodes.CONFLICT` (E_CONFLICT) and the current `revision` (0: the item does not exist).
   */
  ifRevision?: number;
}

/** The error of a write whose condition (`ifRevision`) did not hold: nothing was written. */
export interface ConflictError extends Error {
  code: typeof ErrorCodes.CONFLICT;
  /** The item whose condition failed. */
  key: string;
  /** The item's current revision (0 when it does not exist). */
  revision: number;
}

/**
 * Several writes of one collection applied together (`collection.batch()`): all of them or none, as one write.
 * Each key may appear once; at most 1,000 operations.
 */
export interface Batch<T extends object = Record<string, unknown>> {
  /**
   * Add a set. Nothing is checked or sent yet: bad data or options make `exec()` reject with a usage error naming
   * the key, before anything is sent. Returns the batch, so calls chain.
   */
  set(key: string, data: T, options?: SetOptions): this;
  /** Add a delete. Returns the batch, so calls chain. */
  del(key: string, options?: DelOptions): this;
  /** How many operations the batch holds. */
  readonly length: number;
  /**
   * Apply every operation in one script, or none: resolves with each operation's new revision, in order (the
   * batch's revision for a set, 0 for a delete); rejects with `E_CONFLICT` naming the key when any condition
   * fails (nothing written). A batch runs once.
   */
  exec(): Promise<number[]>;
}

/** The arguments of every collection listener. */
export type ChangeArgs<T> = [key: string, data: T, info: ChangeInfo];

/** A collection's events and the arguments their listeners get. */
export type CollectionEvents<T> = {
  /** An item was added, or its contents changed (and once per item when `subscribe()` loads the collection). */
  set: ChangeArgs<T>;
  /** An item's TTL ran out; `data` is the last copy this process held. */
  expire: ChangeArgs<T>;
  /** An item was deleted; `data` is the last copy this process held. */
  delete: ChangeArgs<T>;
};

/**
 * How far a collection's local copy can be trusted:
 * - `'loading'`: not subscribed, or `subscribe()` has not loaded the copy yet;
 * - `'live'`: the copy confirmed with Redis that it holds what Redis holds, recently (see the README's "Freshness");
 * - `'stale'`: for longer than `syncInterval` it could not confirm it (Redis unreachable, the pub/sub connection
 *   lost, a catch-up failing). It keeps its last contents and becomes `'live'` again once it has caught up.
 */
export type CollectionStatus = 'loading' | 'live' | 'stale';

/** A collection's counters (`collection.stats()`). All zero before the copy is loaded. */
export interface CollectionStats {
  /** Items in the local copy. */
  items: number;
  /** The revision of the last write the copy holds (its stamp); 0 before the collection has any. */
  revision: number;
  /** Catch-ups run since `subscribe()` (each one round trip, or a full resync). */
  catchUps: number;
  /** Full resyncs after the first load (the change log could not bring the copy up to date). */
  resyncs: number;
  /** Channel messages refused (malformed, forged, or not continuing the copy's chain). */
  rejectedMessages: number;
  /** When the copy last confirmed it held what Redis held (epoch ms, this process's clock); 0 for never. */
  lastSyncAt: number;
}

/** The status event of a collection. */
export type StatusEvents = {
  /** The copy's status changed (`'live'` once loaded, `'stale'`, `'live'` again…). Fired once per change. */
  status: [status: CollectionStatus];
};

/** What a `restored` listener gets: the outage that just ended. */
export interface RestoredInfo {
  /** How long (ms) the client was without a working connection, from its `error` event to now. */
  downMs: number;
  /**
   * Failures seen during the outage (the drop itself, each failed reconnect attempt of each connection, catch-ups
   * that could not run): reported here as a count, each cause in the debug log (`NODE_DEBUG=machinepack-redis-ts`).
   */
  failures: number;
  /** The server's address, password masked. */
  address: string;
}

/** A client's events and the arguments their listeners get. */
export type ClientEvents = {
  /**
   * Trouble: an outage (once at its start, code `E_REDIS_CONNECTION_LOST`, the first cause in `err.cause` and the
   * masked address in `err.address`; its retries are not `error` events), a collection that could not be loaded
   * or kept in step, a write nobody awaited that failed, and errors thrown by collection listeners. Without a
   * listener they are dropped: they never crash the process.
   */
  error: [err: Error];
  /** The outage announced by an `error` event is over: every connection of the client works again. */
  restored: [info: RestoredInfo];
};

/** A collection listener (`this` is the collection). */
export type Listener<T extends object, K extends CollectionEvent = CollectionEvent> = ListenerOf<
  CollectionEvents<T>,
  K,
  Collection<T>
>;

/**
 * Typed events: `on`, `once`, `off` and `multi` accept only the events of `E`, with listeners of the right type.
 * Listeners are called with the emitter as `this`; one that throws does not stop the others.
 */
export interface EventSource<E extends EventMap> {
  /** Add a listener. Returns the emitter, so calls chain: `c.on('set', f).on('delete', g)`. */
  on<K extends keyof E & string>(event: K, listener: ListenerOf<E, K, this>): this;
  /** Add a listener that is removed after its first call. */
  once<K extends keyof E & string>(event: K, listener: ListenerOf<E, K, this>): this;
  /** Remove a listener added with `on`, `once` or `multi`. */
  off<K extends keyof E & string>(event: K, listener: ListenerOf<E, K, this>): this;
  /** Alias of `off`. */
  removeListener<K extends keyof E & string>(event: K, listener: ListenerOf<E, K, this>): this;
  /**
   * One listener for several events named in a space-separated string: `multi('expire delete', fn)`. An unknown
   * name fails to compile (and throws a TypeError at run time).
   */
  multi<S extends string>(
    events: EventList<S, keyof E & string>,
    listener: ListenerOf<E, EventNames<S> & keyof E, this>,
  ): this;
  /** How many listeners an event has. */
  listenerCount(event: keyof E & string): number;
}

/** A replicated collection: write with `set`/`del`, follow with `on(...)` + `subscribe()`, read the local copy. */
export interface Collection<T extends object = Record<string, unknown>> extends EventSource<
  CollectionEvents<T> & StatusEvents
> {
  /** The database this collection belongs to. */
  readonly database: string;
  /** The collection's name. */
  readonly name: string;
  /**
   * Start following the collection. Resolves once the local copy is loaded (listeners have then had `set` for
   * every item). While Redis is unreachable it keeps trying. It rejects if the client quits first, and at once on
   * a refusal retrying cannot cure (`E_INVALID_INPUT`; `E_FAILED` with Redis's `NOPERM` when the user's ACL lacks
   * the channel, a command or a key), leaving nothing subscribed.
   */
  subscribe(): Promise<void>;
  /** Stop following; the local copy is dropped. */
  unsubscribe(): Promise<void>;
  /**
   * Write an item (a plain object of JSON values) with an optional TTL in seconds. Resolves once Redis has it,
   * with the item's new revision; rejects with an error naming the key for data it cannot store, or when Redis is
   * unreachable or refuses.
   */
  set(key: string, data: T, ttl?: number): Promise<number>;
  /**
   * Write an item with options: `ttl` (seconds) and `ifRevision` (write only if the item still has that revision;
   * 0: only if it does not exist; otherwise reject with `E_CONFLICT`, see `ConflictError`, and write nothing).
   * Resolves with the new revision.
   */
  set(key: string, data: T, options: SetOptions): Promise<number>;
  /**
   * Delete an item. Resolves with whether there was one. With `ifRevision`, only if the item still has that
   * revision; otherwise reject with `E_CONFLICT` (see `ConflictError`) and delete nothing.
   */
  del(key: string, options?: DelOptions): Promise<boolean>;
  /** Several sets and deletes applied together, all or nothing: `batch().set(…).del(…).exec()`. */
  batch(): Batch<T>;
  /** The local copy of an item (after `subscribe()`), or undefined. */
  get(key: string): T | undefined;
  /**
   * The local copy of an item with its revision and deadline (after `subscribe()`), or undefined. The revision is
   * the one to pass as `ifRevision` for a read-modify-write.
   */
  entry(key: string): Entry<T> | undefined;
  /** The item keys in the local copy. */
  keys(): string[];
  /** How many items the local copy holds. */
  readonly size: number;
  /**
   * `'loading'` until `subscribe()` has loaded the copy (and again after `unsubscribe()`), then `'live'`, or
   * `'stale'` while the copy has been unable to confirm it holds what Redis holds for longer than `syncInterval`.
   * `on('status', (status) => …)` hears every change.
   */
  readonly status: CollectionStatus;
  /** The copy's counters: `{ items, revision, catchUps, resyncs, rejectedMessages, lastSyncAt }`. */
  stats(): CollectionStats;
}

/** A namespace of collections. */
export interface Database {
  /** The client this database belongs to. */
  readonly client: MemisClient;
  /** The database's name. */
  readonly name: string;
  /** A collection of items of type `T` (plain objects). The same name gives the same collection. */
  collection<T extends object = Record<string, unknown>>(name: string): Collection<T>;
}

/** A memis client: databases of replicated collections over one Redis server (or Cluster, or Sentinel group). */
export interface MemisClient extends EventSource<ClientEvents> {
  /** A database: a namespace of collections. The same name gives the same database. */
  database(name: string): Database;
  /** Close every subscription and connection. Pending subscriptions reject; nothing keeps running. */
  quit(): Promise<void>;
  /** Whether `quit()` was called. */
  readonly closed: boolean;
}

/**
 * Options of `createClient`: where the server is (node-redis v3 names or node-redis 6 ones), the facade's own
 * timings, and any node-redis 6 client option.
 */
export interface ClientOptions extends Omit<RedisClientOptions, 'modules' | 'functions' | 'scripts'> {
  /**
   * A `redis://`, `rediss://` or `unix://` URL. Its host, port, credentials and database (`/3` or `?db=3`) win over
   * the same options given beside it, as in node-redis v3.
   */
  url?: string;
  /**
   * The server's host name or address (node-redis v3 name; node-redis 6 says `socket.host`).
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * The server's port: a number or a numeric string (node-redis v3 name; node-redis 6 says `socket.port`).
   * @default 6379
   */
  port?: number | string;
  /** A unix socket path to connect to instead of host and port (node-redis v3 name; 6 says `socket.path`). */
  path?: string;
  /**
   * The database number (node-redis v3 name; node-redis 6 says `database`).
   * @default 0
   */
  db?: number | string;
  /** The ACL user name (node-redis v3 name; node-redis 6 says `username`). */
  user?: string;
  /** The password (node-redis v3's old name; `password` wins when both are given). */
  auth_pass?: string;
  /**
   * TLS: `true`, or TLS connection options (`ca`, `cert`, `key`, `servername`…), as node-redis v3 took them.
   * @default false
   */
  tls?: boolean | ConnectionOptions;
  /**
   * The IP family to connect with (node-redis v3: `'IPv4'` / `'IPv6'`; or 4 / 6).
   * @default 'IPv4'
   */
  family?: 'IPv4' | 'IPv6' | 4 | 6;
  /** node-redis v3's connect timeout (ms); becomes `socket.connectTimeout`. */
  connect_timeout?: number;
  /** node-redis v3's reconnect strategy; becomes `socket.reconnectStrategy` (see the README's `meta` table). */
  retry_strategy?: (options: {
    attempt: number;
    total_retry_time: number;
    error: Error;
    times_connected: number;
  }) => number | Error | null | undefined;
  /** node-redis v3: stop reconnecting after this many attempts. */
  max_attempts?: number;
  /** node-redis v3: the longest delay (ms) between reconnection attempts. */
  retry_max_delay?: number;
  /** node-redis v3: TCP no-delay. */
  socket_nodelay?: boolean;
  /** node-redis v3: TCP keep-alive. */
  socket_keepalive?: boolean;
  /** node-redis v3: the keep-alive initial delay (ms). */
  socket_initial_delay?: number;
  /** A Redis Cluster: `true` (the URL is a seed node) or `{ rootNodes: [{ url }] }`. */
  cluster?: boolean | { rootNodes?: Array<Record<string, unknown>>; [option: string]: unknown };
  /** A Sentinel group: `{ name, sentinelRootNodes: [{ host, port }] }`; the URL's credentials apply to the nodes. */
  sentinel?: { name: string; sentinelRootNodes: Array<{ host: string; port: number }>; [option: string]: unknown };
  /**
   * How long (ms) a command may wait for a reply before it fails (a server that stopped answering).
   * @default 5000
   */
  commandTimeout?: number;
  /**
   * How often (ms) each subscribed collection checks Redis for changes it missed (lost notifications, a restart);
   * 10 or more, else `createClient` throws `E_INVALID_INPUT`.
   * @default 1000
   */
  syncInterval?: number;
  /**
   * How long (ms) connecting may take before `set`/`del`/`subscribe` give up with an error.
   * @default 5000
   */
  connectTimeout?: number;
  /**
   * How long (ms) to wait before retrying a subscription that could not be loaded (Redis unreachable).
   * @default 1000
   */
  retryDelay?: number;
}
