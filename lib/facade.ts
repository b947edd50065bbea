/**
 * The memis-style facade: `createClient(...).database('region-nl').collection('artists')`.
 *
 * It talks to Redis only through the machines (their promise face): createManager, getConnection, setItem,
 * deleteItem, subscribeCollection, destroyManager. One command connection and one subscriber connection per
 * client serve all of its collections.
 */
import { EventEmitter } from 'node:events';
import type { RedisClientOptions } from 'redis';
import type { Manager, UnexpectedFailure } from './connection';
import type { Replica } from './collections/replica';
import { assertPlainObject } from './collections/codec';
import { coded } from './errors';
import { machines } from './machines';
import { connectionStringProblem, isDictionary } from './options';
import { redact } from './secrets';
import type { Connection } from './shared';

const { createManager, getConnection, setItem, deleteItem, subscribeCollection, destroyManager } = Object.fromEntries(
  Object.entries(machines).map(([k, m]) => [k, m.call]),
) as { [K in keyof typeof machines]: (typeof machines)[K]['call'] };

/** Options of `createClient`: node-redis 6 client options, plus the facade's own. */
export interface ClientOptions extends Omit<RedisClientOptions, 'modules' | 'functions' | 'scripts'> {
  /** A Redis Cluster: `true` (the URL is a seed node) or `{ rootNodes: [{ url }] }`. */
  cluster?: boolean | { rootNodes?: Array<Record<string, unknown>>; [option: string]: unknown };
  /** A Sentinel group: `{ name, sentinelRootNodes: [{ host, port }] }`; the URL's credentials apply to the nodes. */
  sentinel?: { name: string; sentinelRootNodes: Array<{ host: string; port: number }>; [option: string]: unknown };
  /**
   * How often (ms) each subscribed collection checks Redis for changes it missed (lost notifications, a restart).
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

export type CollectionEvent = 'set' | 'expire' | 'delete';
export type Listener<T> = (key: string, data: T) => void;

/** Turn a machine's rejection into an Error that says what the facade was doing. */
function failure(err: unknown, what: string): Error {
  const e = err as { exit?: string; raw?: { error?: Error }; name?: string };
  if (e && e.exit && e.name === 'Exception') {
    const cause = e.raw?.error;
    const reason = e.exit === 'badConnection' ? 'Redis is unreachable' : 'Redis refused it';
    return coded(
      `E_${e.exit.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()}`,
      `Could not ${what}: ${reason}${cause ? ` (${redact(cause.message)})` : ''}.`,
      { cause: err },
    );
  }
  return err as Error;
}

/** A memis client: databases of replicated collections over one Redis server. */
export class MemisClient extends EventEmitter {
  readonly #connectionString: string;
  readonly #meta: Record<string, unknown>;
  readonly #options: { syncInterval: number; connectTimeout: number; retryDelay: number };
  #manager: Promise<Manager> | undefined;
  #command: Promise<Connection> | undefined;
  #subscriber: Promise<Connection> | undefined;
  readonly #databases = new Map<string, Database>();
  /** @internal */
  readonly collections = new Set<Collection<object>>();
  #quit = false;

  constructor(connectionString: string, meta: Record<string, unknown>, options: ClientOptions = {}) {
    super();
    this.#connectionString = connectionString;
    this.#meta = meta;
    this.#options = {
      syncInterval: options.syncInterval ?? 1000,
      connectTimeout: options.connectTimeout ?? 5000,
      retryDelay: options.retryDelay ?? 1000,
    };
  }

  /** A database: a namespace of collections. */
  database(name: string): Database {
    if (typeof name !== 'string' || name === '')
      throw new TypeError('database(name): name must be a non-empty string.');
    let db = this.#databases.get(name);
    if (!db) this.#databases.set(name, (db = new Database(this, name)));
    return db;
  }

  /** Close every subscription and connection. Pending subscriptions reject; nothing keeps running. */
  async quit(): Promise<void> {
    if (this.#quit) return;
    this.#quit = true;
    await Promise.all([...this.collections].map((c) => c.unsubscribe()));
    const manager = await this.#manager?.catch(() => undefined);
    if (manager) await destroyManager({ manager });
  }

  get closed(): boolean {
    return this.#quit;
  }

  /** @internal Report trouble: as an `error` event when someone listens, else ignored (never a crash). */
  report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** @internal */
  get options(): { syncInterval: number; connectTimeout: number; retryDelay: number } {
    return this.#options;
  }

  #getManager(): Promise<Manager> {
    return (this.#manager ??= createManager({
      connectionString: this.#connectionString,
      meta: this.#meta,
      onUnexpectedFailure: (err: UnexpectedFailure) => this.report(err),
    }).then((r) => r.manager));
  }

  #connect(which: 'command' | 'subscriber'): Promise<Connection> {
    if (this.#quit) return Promise.reject(coded('E_CLIENT_QUIT', 'This client has quit.'));
    const cached = which === 'command' ? this.#command : this.#subscriber;
    if (cached) return cached;
    const p = this.#getManager()
      .then((manager) => getConnection({ manager, timeout: this.#options.connectTimeout }))
      .then((r) => r.connection);
    // A failed attempt is forgotten, so the next call tries again.
    p.catch(() => {
      if (which === 'command' && this.#command === p) this.#command = undefined;
      if (which === 'subscriber' && this.#subscriber === p) this.#subscriber = undefined;
    });
    if (which === 'command') this.#command = p;
    else this.#subscriber = p;
    return p;
  }

  /** @internal */
  commandConnection(): Promise<Connection> {
    return this.#connect('command');
  }
  /** @internal */
  subscriberConnection(): Promise<Connection> {
    return this.#connect('subscriber');
  }
}

/** A namespace of collections. */
export class Database {
  readonly #collections = new Map<string, Collection<object>>();
  constructor(
    readonly client: MemisClient,
    readonly name: string,
  ) {}

  /** A collection of items of type `T` (plain objects). The same name gives the same collection. */
  collection<T extends object = Record<string, unknown>>(name: string): Collection<T> {
    if (typeof name !== 'string' || name === '')
      throw new TypeError('collection(name): name must be a non-empty string.');
    let c = this.#collections.get(name);
    if (!c) this.#collections.set(name, (c = new Collection<object>(this.client, this.name, name)));
    return c as unknown as Collection<T>;
  }
}

const EVENTS: ReadonlySet<string> = new Set<CollectionEvent>(['set', 'expire', 'delete']);

/** A replicated collection: write with `set`/`del`, follow with `on(...)` + `subscribe()`, read the local copy. */
export class Collection<T extends object = Record<string, unknown>> {
  readonly #listeners: Record<CollectionEvent, Array<Listener<T>>> = { set: [], expire: [], delete: [] };
  #replica: Replica | undefined;
  #subscribing: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly client: MemisClient,
    readonly database: string,
    readonly name: string,
  ) {}

  /** Listen for `set` (added or changed), `expire` (TTL ran out; last copy) or `delete` (deleted; last copy). */
  on(event: CollectionEvent, listener: Listener<T>): this {
    if (!EVENTS.has(event))
      throw new TypeError(`Unknown collection event "${String(event)}"; use set, expire or delete.`);
    if (typeof listener !== 'function') throw new TypeError('The listener must be a function.');
    this.#listeners[event].push(listener);
    return this;
  }

  /** Remove a listener added with `on` or `multi`. */
  off(event: CollectionEvent, listener: Listener<T>): this {
    const list = this.#listeners[event];
    const i = list ? list.indexOf(listener) : -1;
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  /** One listener for several events, named in a space-separated string: `multi('expire delete', fn)`. */
  multi(events: string, listener: Listener<T>): this {
    const names = String(events).split(/\s+/).filter(Boolean);
    if (names.length === 0) throw new TypeError('multi(events, listener): name at least one event.');
    for (const e of names)
      if (!EVENTS.has(e)) throw new TypeError(`Unknown collection event "${e}"; use set, expire or delete.`);
    for (const e of names) this.on(e as CollectionEvent, listener);
    return this;
  }

  /**
   * Start following the collection. Resolves once the local copy is loaded (listeners have then had `set` for
   * every item). While Redis is unreachable it keeps trying; it rejects only if the client quits first.
   */
  subscribe(): Promise<void> {
    if (this.#subscribing) return this.#subscribing;
    this.#stopped = false;
    this.client.collections.add(this as unknown as Collection<object>);
    const p = this.#subscribeLoop();
    p.catch(() => undefined); // a caller that does not await must not get an unhandled rejection
    this.#subscribing = p;
    return p;
  }

  async #subscribeLoop(): Promise<void> {
    for (;;) {
      if (this.#stopped || this.client.closed)
        throw coded('E_CLIENT_QUIT', `Subscription to ${this.database}/${this.name} ended before it was loaded.`);
      try {
        const [connection, subscriber] = await Promise.all([
          this.client.commandConnection(),
          this.client.subscriberConnection(),
        ]);
        const { subscription } = await subscribeCollection({
          connection,
          subscriber,
          database: this.database,
          collection: this.name,
          syncInterval: this.client.options.syncInterval,
          onChange: (type, key, data) => this.#emit(type, key, data as T),
          onTrouble: (err) => this.client.report(err),
        });
        if (this.#stopped || this.client.closed) {
          await subscription.end();
          continue;
        }
        this.#replica = subscription;
        return;
      } catch (err) {
        this.client.report(failure(err, `subscribe to ${this.database}/${this.name}`));
        await new Promise((r) => setTimeout(r, this.client.options.retryDelay));
      }
    }
  }

  #emit(type: CollectionEvent, key: string, data: T): void {
    const list = this.#listeners[type];
    if (list.length === 0) return;
    // A snapshot of the list only when there are several (a listener may remove itself); this runs per change.
    const listeners = list.length === 1 ? list : list.slice();
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(key, data);
      } catch (err) {
        // A throwing listener must not stop other listeners or lose later changes.
        this.client.report(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  /** Stop following; the local copy is dropped. */
  async unsubscribe(): Promise<void> {
    this.#stopped = true;
    this.#subscribing = undefined;
    this.client.collections.delete(this as unknown as Collection<object>);
    const replica = this.#replica;
    this.#replica = undefined;
    await replica?.end();
  }

  /**
   * Write an item (a plain object) with an optional TTL in seconds. Resolves once Redis has it; rejects with a
   * clear error for data that is not a plain object of JSON values, or when Redis is unreachable or refuses.
   */
  async set(key: string, data: T, ttl?: number): Promise<void> {
    // Checked before connecting too, so refused data fails the same way whether or not Redis is reachable.
    assertPlainObject(data, key);
    let connection: Connection;
    try {
      connection = await this.client.commandConnection();
    } catch (err) {
      throw failure(err, `set "${key}" in ${this.database}/${this.name}`);
    }
    try {
      await setItem({
        connection,
        database: this.database,
        collection: this.name,
        key,
        data: data as Record<string, unknown>,
        ttl,
      });
    } catch (err) {
      throw failure(err, `set "${key}" in ${this.database}/${this.name}`);
    }
  }

  /** Delete an item. Resolves with whether there was one. */
  async del(key: string): Promise<boolean> {
    try {
      const connection = await this.client.commandConnection();
      return (await deleteItem({ connection, database: this.database, collection: this.name, key })).deleted;
    } catch (err) {
      throw failure(err, `delete "${key}" in ${this.database}/${this.name}`);
    }
  }

  /** The local copy of an item (after `subscribe()`), or undefined. */
  get(key: string): T | undefined {
    return this.#replica?.get(key) as T | undefined;
  }

  /** The keys in the local copy. */
  keys(): string[] {
    return this.#replica ? this.#replica.keysList() : [];
  }

  /** How many items the local copy holds. */
  get size(): number {
    return this.#replica?.size ?? 0;
  }

  /** @internal The live replica, for tests and tools. */
  get replica(): Replica | undefined {
    return this.#replica;
  }
}

/**
 * Create a memis client. Takes a URL string, node-redis 6 client options (`{ url }` or `{ socket: { host, port } }`,
 * `password`, `database`…, plus the facade's `syncInterval`, `connectTimeout`), `(url, options)`, or memis'
 * `(port, host, options)`.
 */
export function createClient(options?: ClientOptions): MemisClient;
export function createClient(url: string, options?: ClientOptions): MemisClient;
export function createClient(port: number, host?: string, options?: ClientOptions): MemisClient;
export function createClient(
  a?: string | number | ClientOptions,
  b?: string | ClientOptions,
  c?: ClientOptions,
): MemisClient {
  let opts: ClientOptions;
  if (typeof a === 'string') opts = { ...((b as ClientOptions | undefined) ?? {}), url: a };
  else if (typeof a === 'number')
    opts = {
      ...(c ?? {}),
      socket: { ...((c?.socket as object) ?? {}), port: a, host: (b as string | undefined) ?? '127.0.0.1' },
    };
  else if (a === undefined || isDictionary(a)) opts = { ...(a ?? {}) };
  else throw new TypeError('createClient: pass a redis:// URL, an options object, or (port, host, options).');
  const { url, syncInterval, connectTimeout, retryDelay, ...meta } = opts;
  const socket = (meta.socket ?? {}) as { host?: string; port?: number; tls?: boolean };
  const connectionString =
    url ?? `${socket.tls ? 'rediss' : 'redis'}://${socket.host ?? '127.0.0.1'}:${socket.port ?? 6379}`;
  const problem = connectionStringProblem(connectionString);
  if (problem) throw new TypeError(`createClient: ${problem}`);
  return new MemisClient(connectionString, meta as Record<string, unknown>, {
    syncInterval,
    connectTimeout,
    retryDelay,
  });
}
