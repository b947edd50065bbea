/**
 * The near-cache (`meta.nearCache` on createManager): decoded values of getCachedValue kept in this process,
 * invalidated by Redis itself.
 *
 * How it stays correct:
 * - One connection per manager, of our own, speaks RESP3 with `CLIENT TRACKING ON` (sent by node-redis in the
 *   handshake of every connect and reconnect, `emitInvalidate`; NOLOOP added before it serves). Every miss is read
 *   on THAT connection, so Redis remembers the key for it and pushes an `invalidate` on it when anyone else
 *   changes, deletes, expires or evicts the key (or flushes the database: a null invalidation, which empties the
 *   cache).
 * - Invalidations arrive on the same socket as the replies, in the server's order. A reply that was read BEFORE a
 *   write is followed by that write's invalidation; node-redis resolves the reply's promise (our code runs a
 *   microtask later) and then handles the push synchronously. So every read in flight carries a token, an
 *   invalidation of its key (or a flush, or a lost connection) marks the token stale, and a stale read is handed
 *   to its caller but never stored: a value read before an invalidation is never cached after it.
 * - cacheValue on a manager with a near-cache writes through the tracking connection itself (one socket: same
 *   order for the write, the reads and the invalidations), dropping the key before the write; the write is one
 *   script, SET and then a read of the key (so Redis tracks it for us again), and the value written is stored
 *   when it is acknowledged unless an invalidation of the key came first (where scripts are refused: the SET,
 *   then GET + PTTL in the same pipeline, stored as any read). destroyCachedValues (and cacheValue while the
 *   tracking connection is down) go through the caller's connection and drop the keys here before the command
 *   is sent and again when it is acknowledged (marking reads in flight stale). Either way a process reads its own acknowledged writes even
 *   before Redis's invalidation has come back.
 * - Losing the tracking connection (socket closed, CLIENT KILL, server killed or restarted, no answer to our
 *   heartbeat within `meta.commandTimeout`) empties the cache and bypasses it until node-redis has reconnected and
 *   tracking is on again: invalidations sent while it was down are lost, so nothing read before can be trusted.
 * - A key's expiry is read with the value (PTTL, same round trip): the entry is dropped locally at the latest
 *   when the key expires in Redis, whatever the delay of Redis's own expiry invalidation.
 * - Entries hold the decoded value; every hit hands out a deep copy (JSON values only), so a caller mutating what
 *   it got cannot change what the next caller gets. LRU bounded by `maxEntries`.
 */
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { reconnectDelay } from './connection/backoff';
import type { RedisClient } from './connection/client';
import type { Manager } from './connection/manager';
import { managerOf } from './connection/registry';
import { coded, ErrorCodes } from './errors';
import { redact } from './secrets';
import { describeValue, isDictionary } from './options';

/** @default 10000: the number of values a near-cache holds when `meta.nearCache` is `true`. */
export const DEFAULT_NEAR_CACHE_ENTRIES = 10000;

/** What `meta.nearCache` accepts. */
export type NearCacheOption = boolean | { maxEntries?: number };

/** The options of a near-cache, from `meta.nearCache` (undefined: off). Throws an Error naming the option. */
export function nearCacheOptions(meta: Record<string, unknown> | undefined): { maxEntries: number } | undefined {
  const v = meta?.nearCache;
  if (v === undefined || v === false || v === null) return undefined;
  if (v === true) return { maxEntries: DEFAULT_NEAR_CACHE_ENTRIES };
  if (isDictionary(v)) {
    for (const k of Object.keys(v)) {
      if (k !== 'maxEntries')
        throw coded(
          ErrorCodes.INVALID_NEAR_CACHE,
          `\`meta.nearCache\` has an unknown option "${k}" (known: maxEntries).`,
        );
    }
    const m = v.maxEntries;
    if (m === undefined) return { maxEntries: DEFAULT_NEAR_CACHE_ENTRIES };
    if (typeof m === 'number' && Number.isInteger(m) && m > 0) return { maxEntries: m };
    throw coded(
      ErrorCodes.INVALID_NEAR_CACHE,
      `\`meta.nearCache.maxEntries\` must be a positive whole number (got ${describeValue(m)}).`,
    );
  }
  throw coded(
    ErrorCodes.INVALID_NEAR_CACHE,
    `\`meta.nearCache\` must be true, false or { maxEntries } (got ${describeValue(v)}).`,
  );
}

/** A read (or write) in flight on the tracking connection, which readers of its key may share. */
type Flight = Promise<{ text: string | null; value?: unknown }>;

/** What a slot holds while it has no value (never read, invalidated, expired or evicted). */
const EMPTY: unique symbol = Symbol('near-cache empty slot');

/**
 * One key's slot: its value (or EMPTY), and what keeps reads in flight honest. A slot stays in the store's Map when
 * its value goes (an invalidation empties it in place), so the Map of a hot key set is not rewritten on every
 * write; empty slots nobody reads are swept out in bulk (see `#sweep`).
 */
export interface Slot {
  readonly key: string;
  value: unknown;
  /** Copies `value` for a caller (see `copierFor`). */
  copy: Copier;
  /** performance.now() deadline, Infinity when the key has no expiry. */
  expiresAt: number;
  /** Bumped by every invalidation of the key (and a flush): a read that began under an older one is stale. */
  gen: number;
  /** Reads (and writes) of the key in flight: a slot with any is never swept, so its invalidations reach it. */
  pending: number;
  /** The read or write in flight that readers of the key may share (NearCache), with its token. */
  flight: Flight | undefined;
  flightToken: Token | undefined;
  /** Recency list of the slots holding values: `older` towards the least recently used, `newer` the most recent. */
  older: Slot | undefined;
  newer: Slot | undefined;
}

/** A read in flight: stale once its key was invalidated (or everything flushed) after it began. */
export interface Token {
  readonly slot: Slot;
  readonly gen: number;
}

/** A deep copy of a JSON value (what getCachedValue decodes): primitives as they are, arrays and plain objects. */
export function copyJson(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copyJson(v[i]);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k in v as Record<string, unknown>) {
    const c = copyJson((v as Record<string, unknown>)[k]);
    // JSON.parse makes "__proto__" an own property; an assignment would set the copy's prototype instead.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: c, enumerable: true, writable: true, configurable: true });
    else out[k] = c;
  }
  return out;
}

/** How a slot's value is copied for a caller: `copyJson`, or a function compiled for the value's shape. */
export type Copier = (v: unknown) => unknown;

const same: Copier = (v) => v;
/** Compiled copiers by shape (see `shapeOf`); at most MAX_COPIERS shapes, later ones are copied by copyJson. */
const copiers = new Map<string, Copier>();
const MAX_COPIERS = 256;
const MAX_KEYS = 32;
const MAX_DEPTH = 4;
/**
 * The longest signature compiled (characters): what bounds a copier's code (a wide nested value would otherwise
 * inline up to MAX_KEYS ** MAX_DEPTH properties, each with its whole path) and what the copiers hold in all.
 */
const MAX_SHAPE = 1024;
/** False once compiling failed (`node --disallow-code-generation-from-strings`): copyJson from then on. */
let compiling = true;

const isPrimitive = (v: unknown) => v === null || typeof v !== 'object';

/**
 * A shape's signature: for a plain object, `{`, then each key in order (its length, `:`, the key) followed by its
 * child's kind: `p` a primitive, `a` an array of primitives, `g` anything copied by copyJson (arrays holding
 * objects, objects past MAX_DEPTH or MAX_KEYS or whose signature passes MAX_SHAPE, a `__proto__` key), or a nested
 * object's own signature; then `}`.
 * The length prefix makes it unambiguous whatever the keys hold.
 */
function shapeOf(v: Record<string, unknown>, depth: number): string {
  if (depth >= MAX_DEPTH) return 'g';
  let sig = '{';
  let n = 0;
  for (const k in v) {
    if (++n > MAX_KEYS || k === '__proto__') return 'g';
    const c = v[k];
    sig += k.length + ':' + k + childShape(c, depth);
    if (sig.length > MAX_SHAPE) return 'g';
  }
  return sig + '}';
}

function childShape(c: unknown, depth: number): string {
  if (isPrimitive(c)) return 'p';
  if (Array.isArray(c)) return c.every(isPrimitive) ? 'a' : 'g';
  return shapeOf(c as Record<string, unknown>, depth + 1);
}

/** The expression copying `acc` (a value of the object shape `v`) as generated code. */
function copyExpr(v: Record<string, unknown>, acc: string, depth: number): string {
  const parts: string[] = [];
  for (const k in v) {
    const key = JSON.stringify(k); // a string literal: any key, quotes and backslashes escaped
    const at = `${acc}[${key}]`;
    const kind = childShape(v[k], depth);
    parts.push(
      `${key}: ` +
        (kind === 'p'
          ? at
          : kind === 'a'
            ? `${at}.slice()`
            : kind === 'g'
              ? `copy(${at})`
              : copyExpr(v[k] as Record<string, unknown>, at, depth + 1)),
    );
  }
  return `{ ${parts.join(', ')} }`;
}

/**
 * The copier for `v` and every value of its shape. A plain object gets a function compiled for its shape (an
 * object literal with its keys, about five times faster than copyJson's key-by-key stores): what every hit runs.
 * Primitives are not copied; arrays of primitives are sliced; anything else goes through copyJson.
 */
export function copierFor(v: unknown): Copier {
  if (isPrimitive(v)) return same;
  if (Array.isArray(v)) return copyJson;
  const sig = shapeOf(v as Record<string, unknown>, 0);
  if (sig === 'g' || !compiling) return copyJson;
  let c = copiers.get(sig);
  if (c === undefined) {
    if (copiers.size >= MAX_COPIERS) return copyJson;
    try {
      c = new Function('copy', `return (v) => (${copyExpr(v as Record<string, unknown>, 'v', 0)});`)(
        copyJson,
      ) as Copier;
    } catch {
      compiling = false;
      return copyJson;
    }
    copiers.set(sig, c);
  }
  return c;
}

/**
 * The store and its bookkeeping, without the connection: what the race rules are about, testable on its own.
 */
export class NearStore {
  readonly #slots = new Map<string, Slot>();
  // Least and most recently used slot holding a value: a hit relinks its slot at the newest end (four pointers),
  // where deleting and re-inserting it in the Map (what keeps a Map in use order) costs two more hash operations
  // and leaves holes the Map must compact: the largest share of a hit in a profile.
  #oldest: Slot | undefined;
  #newest: Slot | undefined;
  /** Slots holding a value (at most maxEntries), and slots without one (swept beyond `#sweepAt`). */
  #valued = 0;
  #empty = 0;
  #sweepAt: number;
  hits = 0;
  misses = 0;
  flushes = 0;

  constructor(readonly maxEntries: number) {
    this.#sweepAt = Math.max(maxEntries, 64);
  }

  /** The number of values held. */
  get size(): number {
    return this.#valued;
  }

  /** The number of slots, with a value or without (bounded: see `#sweep`). */
  get slots(): number {
    return this.#slots.size;
  }

  /** A copy of the value held for `key`, or `MISS`. */
  get(key: string, now?: number): unknown {
    const e = this.#slots.get(key);
    if (e === undefined || e.value === EMPTY) {
      this.misses++;
      return MISS;
    }
    // The clock is read only for entries that expire (most have no TTL).
    if (e.expiresAt !== Infinity && (now ?? performance.now()) >= e.expiresAt) {
      this.#empty_(e);
      this.misses++;
      return MISS;
    }
    if (e !== this.#newest) {
      this.#unlink(e);
      this.#append(e);
    }
    this.hits++;
    return e.copy(e.value);
  }

  /** The slot of `key`, made if there is none (empty). */
  slot(key: string): Slot {
    let e = this.#slots.get(key);
    if (e === undefined) {
      // Swept before the new slot joins (it has no read yet: a sweep after would take it away from its caller).
      if (++this.#empty > this.#sweepAt) this.#sweep();
      e = {
        key,
        value: EMPTY,
        copy: same,
        expiresAt: Infinity,
        gen: 0,
        pending: 0,
        flight: undefined,
        flightToken: undefined,
        older: undefined,
        newer: undefined,
      };
      this.#slots.set(key, e);
    }
    return e;
  }

  /** A read of `key` is about to be sent. */
  begin(key: string): Token {
    return this.beginOn(this.slot(key));
  }

  /** A read of the slot's key is about to be sent. */
  beginOn(slot: Slot): Token {
    slot.pending++;
    return { slot, gen: slot.gen };
  }

  /** The key was invalidated (or everything flushed) since the read of `token` began. */
  stale(token: Token): boolean {
    return token.slot.gen !== token.gen;
  }

  /**
   * The read of `token` answered `value` (decoded), with `ttlMs` left (undefined: no expiry) as of `sentAt`.
   * Stored only if nothing invalidated the key since the read began.
   */
  complete(
    token: Token,
    value: unknown,
    ttlMs: number | undefined,
    sentAt: number,
    /** `value` is referenced by nobody else (freshly decoded and not handed out): stored without a copy. */
    owned = false,
  ): void {
    const e = token.slot;
    e.pending--;
    if (e.gen !== token.gen) return;
    const held = e.value !== EMPTY;
    e.value = owned ? value : copyJson(value);
    e.copy = copierFor(value);
    e.expiresAt = ttlMs === undefined ? Infinity : sentAt + ttlMs;
    if (held) {
      if (e !== this.#newest) {
        this.#unlink(e);
        this.#append(e);
      }
      return;
    }
    // An empty slot gets a value: it joins the recency list (still in the Map: a flush since would have made the
    // token stale).
    this.#empty--;
    this.#valued++;
    this.#append(e);
    if (this.#valued > this.maxEntries) this.#empty_(this.#oldest!);
  }

  /** The read of `token` failed or answered nothing to keep. */
  abandon(token: Token): void {
    token.slot.pending--;
  }

  #unlink(e: Slot): void {
    if (e.older) e.older.newer = e.newer;
    else this.#oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.#newest = e.older;
    e.older = e.newer = undefined;
  }

  #append(e: Slot): void {
    e.older = this.#newest;
    if (this.#newest) this.#newest.newer = e;
    else this.#oldest = e;
    this.#newest = e;
  }

  /** The slot's value goes (the slot stays, for reads in flight and the next value). */
  #empty_(e: Slot): void {
    if (e.value === EMPTY) return;
    e.value = EMPTY;
    this.#unlink(e);
    this.#valued--;
    this.#empty++;
  }

  /**
   * Too many empty slots: the ones without reads in flight leave the Map (their invalidations have nobody left
   * to tell). The next sweep waits until there are twice as many empty slots as stay, so a sweep costs O(1) per
   * slot emptied even when most empty slots are busy. Only `slot()` sweeps (the Map grows nowhere else), before
   * it adds a slot: a caller holding a slot it has not begun a read on yet never finds it swept away.
   */
  #sweep(): void {
    for (const e of this.#slots.values()) {
      if (e.value === EMPTY && e.pending === 0) {
        this.#slots.delete(e.key);
        this.#empty--;
      }
    }
    this.#sweepAt = Math.max(this.maxEntries, 64, 2 * this.#empty);
  }

  /** `key` changed (or may have): drop its value, and keep reads in flight from storing what they read. */
  invalidate(key: string): void {
    const e = this.#slots.get(key);
    if (e !== undefined) this.invalidateSlot(e);
  }

  /** As `invalidate`, for a slot in hand. */
  invalidateSlot(e: Slot): void {
    e.gen++;
    this.#empty_(e);
  }

  /** Everything may have changed. */
  flush(): void {
    // Every slot's reads in flight go stale; the slots leave the Map (a read completing on one finds it stale).
    for (const e of this.#slots.values()) {
      e.gen++;
      e.value = EMPTY;
      e.older = e.newer = undefined;
    }
    this.#slots.clear();
    this.#oldest = this.#newest = undefined;
    this.#valued = this.#empty = 0;
    this.#sweepAt = Math.max(this.maxEntries, 64);
    this.flushes++;
  }

  has(key: string): boolean {
    const e = this.#slots.get(key);
    return e !== undefined && e.value !== EMPTY;
  }
}

/** What `NearStore.get` returns when it holds nothing for a key. */
export const MISS: unique symbol = Symbol('near-cache miss');

const HEARTBEAT_MS = 1000;

/**
 * cacheValue through the tracking connection, in one command: the SET, then a read of the key (PTTL: any read
 * makes Redis track the key for this connection, and PTTL does not copy the value into Lua), atomically, so no
 * other client's write can fall between them unseen. Our own SET dropped the key from Redis's tracking table
 * (NOLOOP spares us the invalidation, not the forgetting); the read puts it back, and from then on any other
 * write to the key pushes an invalidation behind this script's reply. So the value written, with the TTL
 * written, can be stored when the reply comes, unless an invalidation came first. Sent as EVAL (Redis keeps the
 * compiled script by its digest): never NOSCRIPT, so never a retry that could reorder writes. ARGV is the value,
 * then `EX <seconds>` when cacheValue has a ttl.
 */
const WRITE_SCRIPT = "redis.call('SET',KEYS[1],unpack(ARGV))redis.call('PTTL',KEYS[1])";

/** A manager's near-cache: the store, plus the tracking connection that keeps it right. */
export class NearCache {
  readonly store: NearStore;
  #client: RedisClient | undefined;
  /** True while tracking is on and nothing was lost since: only then are values stored and served. */
  #usable = false;
  #closed = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #pingSentAt = 0;
  #pingPending = false;
  /** Bumped on every connect and loss: an answer to an older epoch's CLIENT TRACKING does not make it usable. */
  #epoch = 0;
  /** This epoch's connection may run EVAL (probed on every connect; false until the probe answers). */
  #scripted = false;
  /** Settles once the tracking connection is first ready (or failed); for tests and `sync()`. */
  #readyWaiters: Array<() => void> = [];

  constructor(
    private readonly manager: Manager,
    maxEntries: number,
  ) {
    this.store = new NearStore(maxEntries);
  }

  /** cacheValue goes out as one script (WRITE_SCRIPT) on this connection; false where scripts are refused. */
  get scripted(): boolean {
    return this.#scripted;
  }

  /** Values are served and stored only while tracking is known to be on. */
  get usable(): boolean {
    return this.#usable;
  }

  /** Start the tracking connection (once; in the background). */
  start(): void {
    if (this.#client || this.#closed) return;
    const base = this.manager.clientOptions(false) as Record<string, unknown>;
    const socket = { ...((base.socket as Record<string, unknown> | undefined) ?? {}) };
    socket.reconnectStrategy = (retries: number) => reconnectDelay(retries);
    const options: Record<string, unknown> = {
      ...base,
      socket,
      RESP: 3,
      emitInvalidate: true,
      disableOfflineQueue: true,
      commandOptions: { timeout: 0 },
    };
    delete options.clientSideCache;
    let client: RedisClient;
    try {
      client = createClient(options) as unknown as RedisClient;
    } catch (err) {
      this.#closed = true;
      process.emitWarning(`machinepack-redis-ts: near-cache disabled: ${redact((err as Error).message)}`);
      return;
    }
    this.#client = client;
    const lost = () => this.#lost();
    client.on('error', lost).on('reconnecting', lost).on('end', lost);
    client.on('ready', () => {
      // The handshake that just finished turned tracking on (emitInvalidate); NOLOOP on top: Redis does not echo
      // our own writes back to us (we drop those keys ourselves), so the read sent right behind a write can be
      // stored. Nothing read before counts; the cache serves again once NOLOOP is acknowledged.
      const epoch = ++this.#epoch;
      this.store.flush();
      this.#pingPending = false;
      this.#scripted = false;
      // Scripts may be refused (ACL, a proxy): then cacheValue sends a plain SET and a read behind it.
      client.sendCommand(['EVAL', 'return 1', '0']).then(
        () => {
          if (epoch === this.#epoch) this.#scripted = true;
        },
        () => undefined,
      );
      client.sendCommand(['CLIENT', 'TRACKING', 'ON', 'NOLOOP']).then(
        () => {
          if (epoch !== this.#epoch || this.#closed) return;
          this.store.flush();
          this.#usable = true;
          for (const w of this.#readyWaiters.splice(0)) w();
        },
        () => undefined, // stays bypassed until the next reconnect
      );
    });
    client.on('invalidate', (key: unknown) => {
      if (key === null || key === undefined) this.store.flush();
      else this.store.invalidate(typeof key === 'string' ? key : String(key));
    });
    client.connect().catch(() => undefined);
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** The tracking connection is (or may be) gone: invalidations may be lost from here on. */
  #lost(): void {
    this.#epoch++;
    if (this.#usable || this.store.size > 0) this.store.flush();
    this.#usable = false;
  }

  /**
   * A server that stops answering (or a network that silently drops) sends no FIN: a PING every second, and no
   * answer within `meta.commandTimeout` counts as a lost connection (flushed, then reconnected).
   */
  #beat(): void {
    const client = this.#client;
    if (!client || !this.#usable) return;
    if (this.#pingPending) {
      if (performance.now() - this.#pingSentAt < this.manager.commandTimeout) return;
      this.#lost();
      this.#pingPending = false;
      void Promise.resolve(client.destroy()).catch(() => undefined);
      if (!this.#closed) client.connect().catch(() => undefined);
      return;
    }
    this.#pingPending = true;
    this.#pingSentAt = performance.now();
    client.sendCommand(['PING']).then(
      () => (this.#pingPending = false),
      () => (this.#pingPending = false),
    );
  }

  /** A copy of the value for `key`, or MISS (also while the cache is not usable). */
  get(key: string): unknown {
    if (!this.#usable) return MISS;
    return this.store.get(key);
  }

  /**
   * Read `key` on the tracking connection (so Redis tracks it for us): resolves with the raw text (null: no such
   * key) and stores the decoded value unless it went stale meanwhile. Rejects when the tracking connection
   * fails; the caller then reads through its own connection.
   */
  load(key: string, decode: (text: string) => unknown): Promise<{ text: string | null; value?: unknown }> {
    // One read per key at a time: a caller arriving while a read of its key is in flight, and nothing has
    // invalidated the key since that read was sent, shares it (with its own copy of the value).
    const slot = this.store.slot(key);
    const flight = slot.flight;
    if (flight !== undefined && !this.store.stale(slot.flightToken!)) {
      return flight.then((r) => (r.value === undefined ? r : { text: r.text, value: copyJson(r.value) }));
    }
    const client = this.#client!;
    const token = this.store.beginOn(slot);
    const sentAt = performance.now();
    const get = client.sendCommand(['GET', key]) as Promise<string | null>;
    const pttl = client.sendCommand(['PTTL', key]) as Promise<number>;
    const promise = Promise.all([get, pttl]).then(
      ([text, ttl]) => {
        if (slot.flightToken === token) slot.flight = slot.flightToken = undefined;
        if (text === null) {
          this.store.abandon(token);
          return { text };
        }
        const value = decode(text);
        this.store.complete(token, value, ttl >= 0 ? ttl : undefined, sentAt);
        return { text, value };
      },
      (err: unknown) => {
        if (slot.flightToken === token) slot.flight = slot.flightToken = undefined;
        this.store.abandon(token);
        throw err;
      },
    );
    slot.flight = promise;
    slot.flightToken = token;
    return promise;
  }

  /**
   * cacheValue through the tracking connection, so all of this manager's cache traffic shares one socket (two
   * sockets, one for writes and one for reads, cost node-redis and Redis twice the system calls per round). Drops
   * the key and sends WRITE_SCRIPT (SET + a read, atomically), storing the value written once acknowledged, so the
   * next read is a hit. Where scripts are refused: the SET and, in the same pipeline, a read of the key (GET +
   * PTTL), stored when answered. Undefined while the cache is not usable (the caller then writes through its own
   * connection).
   */
  write(
    key: string,
    text: string,
    ttl: number | undefined,
    decode: (text: string) => unknown,
  ): Promise<unknown> | undefined {
    if (!this.#usable) return undefined;
    const slot = this.store.slot(key);
    this.store.invalidateSlot(slot);
    const client = this.#client!;
    if (!this.#scripted) {
      const sent = client.sendCommand(ttl === undefined ? ['SET', key, text] : ['SET', key, text, 'EX', String(ttl)]);
      this.load(key, decode).catch(() => undefined);
      return sent;
    }
    // One command (WRITE_SCRIPT); readers of the key arriving meanwhile share it, as they share a read in flight.
    const token = this.store.beginOn(slot);
    const sentAt = ttl === undefined ? 0 : performance.now();
    const sent = client.sendCommand(
      ttl === undefined
        ? ['EVAL', WRITE_SCRIPT, '1', key, text]
        : ['EVAL', WRITE_SCRIPT, '1', key, text, 'EX', String(ttl)],
    );
    const promise: Flight = sent.then(
      () => {
        if (slot.flightToken === token) slot.flight = slot.flightToken = undefined;
        // Stored unless an invalidation of the key came first (then only handed to readers sharing this flight).
        const value = decode(text);
        this.store.complete(token, value, ttl === undefined ? undefined : ttl * 1000, sentAt, true);
        return { text, value };
      },
      (err: unknown) => {
        if (slot.flightToken === token) slot.flight = slot.flightToken = undefined;
        this.store.abandon(token);
        throw err;
      },
    );
    slot.flight = promise;
    slot.flightToken = token;
    return promise;
  }

  /** Called around every write this manager's machines make to `key`: before sending and when acknowledged. */
  invalidate(key: string): void {
    this.store.invalidate(key);
  }

  /**
   * Resolves once every invalidation for writes acknowledged before this call has been delivered (a round trip on
   * the tracking connection: Redis queued those invalidations on it before acknowledging the writes).
   */
  async sync(): Promise<void> {
    if (!this.#usable) await new Promise<void>((r) => this.#readyWaiters.push(r));
    await this.#client!.sendCommand(['PING']);
  }

  /** Close the tracking connection and forget everything (destroyManager). */
  close(): void {
    this.#closed = true;
    this.#usable = false;
    clearInterval(this.#heartbeat);
    this.store.flush();
    for (const w of this.#readyWaiters.splice(0)) w();
    if (this.#client) void Promise.resolve(this.#client.destroy()).catch(() => undefined);
  }

  /** The tracking connection's CLIENT ID (for tests that kill it). */
  async trackingId(): Promise<number> {
    return (await this.#client!.sendCommand(['CLIENT', 'ID'])) as number;
  }
}

const caches = new WeakMap<Manager, NearCache | null>();

/** The near-cache of `manager` (started on first use), or undefined when `meta.nearCache` is off. */
export function nearCacheOf(manager: Manager): NearCache | undefined {
  let c = caches.get(manager);
  if (c === undefined) {
    const opts = manager.topology.kind === 'single' ? nearCacheOptions(manager.meta) : undefined;
    c = opts && !manager.destroyed ? new NearCache(manager, opts.maxEntries) : null;
    caches.set(manager, c);
    c?.start();
  }
  return c ?? undefined;
}

/** Close `manager`'s near-cache, if it has one (destroyManager). */
export function closeNearCache(manager: Manager): void {
  const c = caches.get(manager);
  if (c) c.close();
  caches.set(manager, null);
}

const byClient = new WeakMap<object, NearCache | null>();

/** The near-cache serving reads through `client` (a live connection of ours), or undefined. One lookup per call. */
export function nearCacheFor(client: RedisClient): NearCache | undefined {
  let c = byClient.get(client);
  if (c === undefined) {
    const manager = managerOf(client);
    if (!manager) return undefined;
    c = nearCacheOf(manager) ?? null;
    byClient.set(client, c);
  }
  return c ?? undefined;
}
