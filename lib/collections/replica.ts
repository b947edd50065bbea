/**
 * A process's copy of one collection, kept equal to what Redis holds.
 *
 * - Late join: subscribe first (buffering), then load a snapshot stamped with the sequence number, then apply the
 *   buffered notifications newer than it.
 * - Order, duplicates, forgeries: every notification carries the collection's epoch, sequence number, its write's
 *   stamp and the stamp of the write before (a chain). A copy applies a notification only when it continues the
 *   chain it holds; anything not newer is dropped, so no change is announced twice; a gap, an epoch it does not
 *   hold or a broken chain starts a catch-up. Anything malformed is refused, counted and reported.
 * - Catch-up: one atomic script reads the meta, checks that the log still holds the copy's position with the same
 *   stamp, and returns the log entries after it with the current contents of the items they name. When the log
 *   does not continue what the copy holds (trimmed, another epoch, Redis went back to an older state, a forged
 *   notification was applied), a full resync compares a fresh snapshot with the copy and announces every
 *   difference. Catch-ups wait for the command connection to be ready, and one that achieved nothing (failed, or
 *   left a notification unexplained) makes the next wait longer: 50 ms doubling up to `syncInterval`.
 * - Periodic check (every `syncInterval`, on a tick shared by every copy on the same connection, whose checks go
 *   out as one transaction: one round trip per connection whatever the number of collections): the meta and the
 *   log entry at the copy's position; a different epoch,
 *   a lower sequence number or a different stamp (state went backwards, a forgery) starts a catch-up at once;
 *   being behind on two checks in a row (not just in-flight messages) too.
 * - Status: `loading` until the first snapshot is in, then `live`. Anything that keeps the copy from confirming it
 *   holds what Redis holds (a connection down, a check unanswered or failed, a catch-up wanted or failing, no
 *   confirmation for two intervals) starts a doubt; a doubt that lasts longer than `syncInterval` makes the copy
 *   `stale`, and the next confirmation with both connections up makes it `live` again.
 * - Expiry: deadlines are absolute, on Redis's clock (its `TIME`, measured against ours on every round trip). An
 *   item whose deadline passed is never announced as `set`; when its deadline comes, the copy asks Redis whether
 *   a newer write exists before announcing `expire`.
 */
import {
  decodeItemKey,
  decodeStored,
  parseLogEntry,
  parseNotification,
  sameJson,
  type Notification,
  type StoredItem,
  type StoredValue,
} from './codec';
import { ExpiryHeap, timerDelay } from './expiry-heap';
import type { ReplicaStore, SnapshotHead } from './store';

export type ChangeType = 'set' | 'delete' | 'expire';
/**
 * Called for every change of the copy. `data` is the new contents (`set`) or the last copy held (`delete`,
 * `expire`); `revision` is the revision of `data` (the stamp `t` of the write that stored it).
 */
export type ChangeHandler = (type: ChangeType, key: string, data: Record<string, unknown>, revision: number) => void;
/** Called for trouble that does not stop the replica (a failed catch-up is retried). */
export type TroubleHandler = (err: Error) => void;

/** Builds the Error reported for trouble of a kind (refused input, a failed catch-up). */
export type TroubleFactory = (kind: 'rejected' | 'catchUp' | 'diverged', message: string, cause?: unknown) => Error;

interface Entry {
  /**
   * The item, or the JSON text it was written as (a notification's payload, already checked to be a JSON object):
   * parsed only when read (get, entry, an event that hands it out), so an update nobody reads costs no object tree
   * kept, and an update is compared with the one held by its text.
   */
  data: Record<string, unknown> | string;
  /** The sequence number of the write that stored it (orders the copy's changes within an epoch). */
  seq: number;
  /** Its revision: the stamp of the write that stored it. */
  rev: number;
  /**
   * When the item expires (ms since epoch, Redis's clock); 0 or absent for never (an item without one has no such
   * field: 8 bytes less per item held).
   */
  deadline?: number;
}

/** An event held back while a write of several changes is applied (type, key, data, revision). */
type HeldEvent = [ChangeType, string, Record<string, unknown>, number];

/** How close to its deadline a vanished item counts as expired rather than deleted. */
const EXPIRY_SLACK_MS = 1000;
/** Items read per pipelined window while loading a snapshot. */
const SNAPSHOT_WINDOW = 2000;
/** A snapshot window's target size in bytes (string lengths), and the items of the first window (before sizes are known). */
const SNAPSHOT_WINDOW_BYTES = 1 << 20;
const SNAPSHOT_FIRST_WINDOW = 16;
/** Snapshot windows in flight at once while loading. */
const SNAPSHOT_AHEAD = 3;
/** Change log entries read per catch-up round trip. */
const REPLAY_PAGE = 1000;
/** Notifications buffered during a catch-up, at most; beyond, they are dropped (the next catch-up reads the log). */
const MAX_PENDING = 10000;
/** The first wait before a catch-up that follows one that achieved nothing. */
const MIN_BACKOFF_MS = 50;
/** Items whose expiry is confirmed with Redis per round trip. */
const EXPIRY_BATCH = 1000;

/** Whether a copy can vouch for what it holds: see the module comment. */
export type ReplicaStatus = 'loading' | 'live' | 'stale';

export interface ReplicaOptions {
  /** How often (ms) the copy checks the collection in Redis, to catch a lost or forged notification. */
  syncInterval: number;
  /** A name for messages (`database/collection`). */
  name: string;
  /** Called on every change of `status` (not for the initial `loading`). */
  onStatus?: (status: ReplicaStatus) => void;
}

/** Counters of a copy. */
export interface ReplicaStats {
  /** Items held. */
  items: number;
  /** The revision (stamp) of the last write the copy holds. */
  revision: number;
  /** Catch-ups run (each one script round trip, or a resync). */
  catchUps: number;
  /** Full resyncs after the first load (the log could not bring the copy up to date). */
  resyncs: number;
  /** Channel messages refused (malformed, or not continuing the chain). */
  rejectedMessages: number;
  /** When the copy last confirmed it holds what Redis holds (ms since epoch), 0 for never. */
  lastSyncAt: number;
}

/** Whether an item's deadline (absent or 0: none) has passed at `at`. */
function isDue(deadline: number | undefined, at: number): boolean {
  return deadline !== undefined && deadline > 0 && deadline <= at;
}

/**
 * Whether two different texts of the same length, both as encodeItem writes them, may be one item whose objects'
 * fields are written in another order. Then their first difference is in a field name (two different fields at the
 * same place; equal names are spelled alike, and arrays keep their order), so the nearest `"` before it opens that
 * name, right after `{` or `,` (or is an escaped one, after a backslash): anything else (a number, a literal, a
 * string value after `:` or `[`) is another item. Else they must also be the same characters in another order: the
 * same sum of code units from the first difference on (the characters before it are equal).
 */
function mayBeReordered(a: string, b: string): boolean {
  let i = 0;
  while (a.charCodeAt(i) === b.charCodeAt(i)) i++;
  let quote = i - 1;
  while (quote > 0 && a.charCodeAt(quote) !== 34 /* " */) quote--;
  const before = quote > 0 ? a.charCodeAt(quote - 1) : 0;
  if (before !== 123 /* { */ && before !== 44 /* , */ && before !== 92 /* backslash */) return false;
  let difference = 0;
  for (; i < a.length; i++) difference += a.charCodeAt(i) - b.charCodeAt(i);
  return difference === 0;
}

/** The live copy of one collection. Made by the subscribeCollection machine. */
export class Replica {
  readonly #items = new Map<string, Entry>();
  /** Items parsed from their text because someone read them (see #read). */
  readonly #readItems = new WeakSet<Record<string, unknown>>();
  readonly #heap = new ExpiryHeap();
  #seq = 0;
  #epoch = '';
  #t = '0';
  #syncing = false;
  #wanted = false;
  #pending: Notification[] = [];
  /** Notifications already kept once after a catch-up that did not explain them. */
  readonly #retried = new WeakSet<Notification>();
  #ended = false;
  #suspect: number | undefined;
  /** Redis's clock minus ours (ms). */
  #offset = 0;
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAt = 0;
  #expiring = false;
  #stopPolling: (() => void) | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #backoff = 0;
  #failing = false;
  #lastRejectReport = 0;
  #unreportedRejects = 0;
  readonly #stats = { catchUps: 0, resyncs: 0, rejectedMessages: 0, lastSyncAt: 0 };
  #status: ReplicaStatus = 'loading';
  /** When the current doubt began (ms since epoch), 0 when there is none. */
  #doubtSince = 0;
  #staleTimer: NodeJS.Timeout | undefined;
  /** When the periodic check in flight was sent, 0 when none is. */
  #checkSentAt = 0;
  /** When the check that saw `#suspect` was sent. */
  #suspectAt = 0;
  readonly #listener = (message: string) => this.#onMessage(message);
  /** Events held back while a write of several changes (a batch) is applied, announced once all of it is. */
  #held: HeldEvent[] | undefined;

  constructor(
    private readonly store: ReplicaStore,
    private readonly onChange: ChangeHandler,
    private readonly onTrouble: TroubleHandler,
    private readonly options: ReplicaOptions,
    private readonly trouble: TroubleFactory = (_kind, message) => new Error(message),
  ) {}

  /** Subscribe, load the snapshot, announce its items as `set`. Resolves once the copy is loaded. */
  async start(): Promise<void> {
    this.#syncing = true;
    try {
      await this.store.subscribe(this.#listener);
      await this.#resync();
    } catch (err) {
      this.#syncing = false;
      await this.end();
      throw err;
    }
    this.#syncing = false;
    if (this.#ended) return;
    this.store.watch(
      () => this.#requestCatchUp(),
      () => {
        if (this.#wanted) this.#requestCatchUp();
      },
      () => this.#doubt(),
    );
    // Live once loaded; a doubt that began while loading (a connection lost meanwhile) counts from its start.
    const since = this.#doubtSince;
    this.#doubtSince = 0;
    this.#setStatus('live');
    if (since !== 0) this.#doubt(since);
    const poll = () => void this.#poll();
    if (this.store.every) this.#stopPolling = this.store.every(this.options.syncInterval, poll);
    else {
      const timer = setInterval(poll, timerDelay(this.options.syncInterval));
      timer.unref();
      this.#stopPolling = () => clearInterval(timer);
    }
    this.#drain();
  }

  /** Stop following the collection; the copy is kept but no longer updated, and nothing is announced. Idempotent. */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopPolling?.();
    this.#stopPolling = undefined;
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#staleTimer);
    this.#expiryTimer = this.#retryTimer = this.#staleTimer = undefined;
    this.#heap.clear();
    this.#pending = [];
    this.store.unwatch();
    await this.store.unsubscribe(this.#listener);
  }

  get ended(): boolean {
    return this.#ended;
  }
  get size(): number {
    return this.#items.size;
  }
  /** The sequence number of the last change applied. */
  get seq(): number {
    return this.#seq;
  }
  /** The collection's epoch the copy follows ('' before the collection exists). */
  get epoch(): string {
    return this.#epoch;
  }
  /** Full resyncs done after the first load. */
  get resyncs(): number {
    return this.#stats.resyncs;
  }
  /** `loading` until the first snapshot is in; then `live`, or `stale` while it cannot confirm what it holds. */
  get status(): ReplicaStatus {
    return this.#status;
  }
  stats(): ReplicaStats {
    return { items: this.#items.size, revision: Number(this.#t) || 0, ...this.#stats };
  }
  get(key: string): Record<string, unknown> | undefined {
    const e = this.#items.get(key);
    return e && this.#read(e);
  }
  /** The item's revision and deadline (ms since epoch, Redis's clock; 0 for none), or undefined. */
  entry(key: string): { data: Record<string, unknown>; revision: number; deadline: number } | undefined {
    const e = this.#items.get(key);
    return e && { data: this.#read(e), revision: e.rev, deadline: e.deadline ?? 0 };
  }
  has(key: string): boolean {
    return this.#items.has(key);
  }
  /** The item keys held. */
  keysList(): string[] {
    return [...this.#items.keys()];
  }

  // ---- notifications -------------------------------------------------------------------------------------------

  #onMessage(message: string): void {
    if (this.#ended) return;
    try {
      const n = parseNotification(message);
      if (typeof n === 'string') return this.#reject(`a malformed notification (${n})`);
      // While catching up, or while earlier notifications wait for a catch-up, keep the order.
      if (this.#syncing || this.#pending.length > 0) this.#buffer(n);
      else this.#apply(n);
    } catch (err) {
      // Nothing above should throw; if it does, it is reported, never thrown into the subscriber's event loop.
      this.#report(this.trouble('rejected', `Collection ${this.options.name}: ${(err as Error).message}`, err));
    }
  }

  #buffer(n: Notification): void {
    // Dropping is safe: what the catch-up does not cover is found by the next gap or check.
    if (this.#pending.length >= MAX_PENDING) this.#pending = [];
    this.#pending.push(n);
  }

  /** Apply one notification if it continues the copy's chain; a gap or another epoch starts a catch-up instead. */
  #apply(n: Notification): void {
    if (n.epoch !== this.#epoch) {
      if (this.#epoch === '' && this.#seq === 0 && n.pt === '0') {
        // The first write of an epoch that began after our snapshot (which found no collection).
        this.#epoch = n.epoch;
        this.#seq = n.seq - 1;
      } else {
        this.#buffer(n);
        return this.#requestCatchUp();
      }
    }
    if (n.seq <= this.#seq) return; // a duplicate, or older than what the copy holds
    if (n.seq > this.#seq + 1) {
      this.#buffer(n);
      return this.#requestCatchUp();
    }
    if (n.pt !== this.#t) {
      // Not the write that follows the one we hold: forged, or Redis went back to an older state.
      this.#reject(`a notification that does not continue the log (seq ${n.seq})`);
      return;
    }
    this.#epoch = n.epoch; // the same text; the parser's copy, so the next comparison is of one string with itself
    this.#seq = n.seq;
    this.#t = n.t;
    // One change (the common case) is one step by itself: no closure, no held-back events.
    const rev = n.rev;
    if (n.changes.length === 1) return this.#applyChange(n.changes[0]!, n.seq, rev);
    this.#asOneStep(() => {
      for (const c of n.changes) this.#applyChange(c, n.seq, rev);
    });
  }

  #applyChange(c: Notification['changes'][number], seq: number, rev: number): void {
    const held = this.#items.get(c.key);
    if (held && held.seq >= seq) return;
    if (c.op === 'd') {
      if (held) this.#remove(c.key, 'delete', held);
    } else if (c.deadline > 0 && c.deadline <= this.#redisNow()) {
      if (held) this.#remove(c.key, 'expire', held); // written already expired (a delayed message)
    } else {
      this.#put(c.key, c.data!, seq, rev, c.deadline, held, undefined, c.json);
    }
  }

  /**
   * Apply several changes as one step: listeners hear of them only once the copy holds all of them, so a listener
   * told of one change of a batch already reads every item of that batch in its new state.
   */
  #asOneStep(apply: () => void): void {
    const release = this.#holdEvents();
    try {
      apply();
    } finally {
      release();
    }
  }

  /** Hold events back until the returned function is called (then announce them in order). Nests. */
  #holdEvents(): () => void {
    if (this.#held) return () => undefined;
    const held: HeldEvent[] = [];
    this.#held = held;
    return () => {
      if (this.#held !== held) return;
      this.#held = undefined;
      for (const [type, key, data, revision] of held) this.#emit(type, key, data, revision);
    };
  }

  /**
   * Apply buffered notifications in order (after a load or a catch-up). After a catch-up that succeeded, the copy
   * holds Redis's epoch: a notification of another one is stale and dropped; one that still leaves a gap gets one
   * more catch-up (its predecessor may have been lost) and is then dropped as unexplained (forged, or beyond the
   * log), so nothing is retried forever.
   */
  #drain(caughtUp = false): void {
    const pending = this.#pending.sort((a, b) => a.seq - b.seq);
    this.#pending = [];
    for (let i = 0; i < pending.length; i++) {
      if (this.#ended) return;
      if (this.#syncing) {
        this.#pending.push(...pending.slice(i));
        return;
      }
      const n = pending[i]!;
      if (caughtUp && n.epoch !== this.#epoch && !(this.#epoch === '' && n.pt === '0')) {
        this.#stats.rejectedMessages++;
        continue;
      }
      if (caughtUp && n.seq > this.#seq + 1) {
        if (this.#retried.has(n)) {
          this.#reject(`a notification the log does not explain (seq ${n.seq})`, false);
          continue;
        }
        this.#retried.add(n);
      }
      this.#apply(n);
    }
  }

  #reject(what: string, catchUp = true): void {
    this.#stats.rejectedMessages++;
    // Reported at most once per syncInterval (a flood of bad messages is one line per interval, with a count).
    const now = Date.now();
    if (now - this.#lastRejectReport >= this.options.syncInterval) {
      const more = this.#unreportedRejects > 0 ? ` (and ${this.#unreportedRejects} more since the last report)` : '';
      this.#lastRejectReport = now;
      this.#unreportedRejects = 0;
      this.#report(
        this.trouble(
          'rejected',
          `Collection ${this.options.name}: refused ${what}${more}; the copy checks with Redis. ` +
            'Only this pack should PUBLISH on a collection channel.',
        ),
      );
    } else {
      this.#unreportedRejects++;
    }
    if (catchUp) this.#requestCatchUp();
  }

  #report(err: Error): void {
    try {
      this.onTrouble(err);
    } catch {
      // A throwing trouble handler must not break the copy.
    }
  }

  #emit(type: ChangeType, key: string, data: Record<string, unknown>, revision: number): void {
    if (this.#ended) return;
    if (this.#held) {
      this.#held.push([type, key, data, revision]);
      return;
    }
    try {
      this.onChange(type, key, data, revision);
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)));
    }
  }

  // ---- the copy and its deadlines --------------------------------------------------------------------------------

  /** Store an item; announce `set` only when its contents changed. */
  #put(
    key: string,
    data: Record<string, unknown>,
    seq: number,
    rev: number,
    deadline: number,
    held: Entry | undefined,
    fresh?: Entry,
    json?: string,
  ): void {
    const hadDeadline = (held?.deadline ?? 0) > 0;
    if (held && this.#same(held, data, json)) {
      held.seq = seq;
      held.rev = rev;
      if (deadline > 0 || hadDeadline) held.deadline = deadline;
    } else if (held && !hadDeadline && deadline === 0) {
      // Updated in place: no new entry nor map write per change. An entry with a deadline is replaced instead, so
      // an expiry in progress (#expire) sees that it changed meanwhile.
      held.data = this.#keep(held, data, json);
      held.seq = seq;
      held.rev = rev;
      this.#emit('set', key, data, rev);
    } else {
      // `fresh`: an entry with these values the caller made anyway (a decoded item), kept rather than copied.
      const kept = this.#keep(held, data, json);
      this.#items.set(key, fresh ?? (deadline > 0 ? { data: kept, seq, rev, deadline } : { data: kept, seq, rev }));
      this.#emit('set', key, data, rev);
    }
    // Only an item with a deadline is in the heap: an item without one, before and after, costs nothing here.
    if (deadline > 0) {
      this.#heap.set(key, deadline);
      this.#armExpiry();
    } else if (hadDeadline && this.#heap.delete(key)) this.#armExpiry();
  }

  #remove(key: string, type: 'delete' | 'expire', held: Entry): void {
    this.#items.delete(key);
    this.#heap.delete(key);
    this.#emit(type, key, this.#read(held), held.rev);
  }

  /**
   * An entry's item, parsed (once: the entry keeps it) when it is still JSON text. An item parsed here is one
   * someone reads: its next writes are kept as objects (`#readItems`), so it is not parsed twice per write.
   */
  #read(e: Entry): Record<string, unknown> {
    const data = e.data;
    if (typeof data !== 'string') return data;
    const parsed = JSON.parse(data) as Record<string, unknown>;
    this.#readItems.add(parsed);
    return (e.data = parsed);
  }

  /** What an entry keeps of a write: its text, unless the item held is one that is read (see #read). */
  #keep(
    held: Entry | undefined,
    data: Record<string, unknown>,
    json: string | undefined,
  ): Record<string, unknown> | string {
    if (json === undefined) return data;
    if (held === undefined || typeof held.data === 'string' || !this.#readItems.has(held.data)) return json;
    this.#readItems.add(data);
    return data;
  }

  /**
   * Whether a write's contents (`data`, parsed from `json` when given) equal the held item's. Both texts are what
   * encodeItem wrote (no spaces, each value in JSON.stringify's one spelling), so two spellings of the same item
   * differ at most in their fields' order: the same characters, in another order. Equal texts are the same item;
   * texts that cannot be the same item reordered (another length; a first difference that is not in a field name;
   * another sum of code units: see mayBeReordered) are not; only the rest (rare: an item written again with its
   * fields reordered) is compared as objects, as sameJson did for every write.
   */
  #same(held: Entry, data: Record<string, unknown>, json: string | undefined): boolean {
    const h = held.data;
    if (typeof h !== 'string') return sameJson(h, data);
    if (json !== undefined) {
      if (h === json) return true;
      if (h.length !== json.length || !mayBeReordered(h, json)) return false;
    }
    return sameJson(JSON.parse(h), data);
  }

  #redisNow(): number {
    return Date.now() + this.#offset;
  }

  /** Learn Redis's clock from a reply: `redisMs` read between `sentAt` and now (our clock). */
  #clock(redisMs: number, sentAt: number): void {
    if (!Number.isFinite(redisMs) || redisMs <= 0) return;
    this.#offset = redisMs - (sentAt + Date.now()) / 2;
  }

  #armExpiry(): void {
    if (this.#ended || this.#expiring) return;
    const next = this.#heap.peek();
    if (next === undefined) {
      clearTimeout(this.#expiryTimer);
      this.#expiryTimer = undefined;
      return;
    }
    const at = next - this.#offset;
    if (this.#expiryTimer && this.#expiryAt <= at) return;
    clearTimeout(this.#expiryTimer);
    this.#expiryAt = at;
    // Clamped below 2^31 ms: a later deadline wakes the timer early, finds nothing due, and arms it again.
    this.#expiryTimer = setTimeout(() => void this.#expire(), timerDelay(at - Date.now()));
    this.#expiryTimer.unref();
  }

  /** Announce `expire` for items past their deadline, after asking Redis whether a newer write exists. */
  async #expire(): Promise<void> {
    this.#expiryTimer = undefined;
    if (this.#ended || this.#expiring) return;
    const now = this.#redisNow();
    // Each with the write it held when it fell due: a write of the same contents updates the entry in place
    // (same object), so the entry alone cannot tell that it changed while Redis was asked.
    const due: Array<[string, Entry, number]> = [];
    while (due.length < EXPIRY_BATCH && this.#heap.size > 0 && this.#heap.peek()! <= now) {
      const [, key] = this.#heap.pop()!;
      const held = this.#items.get(key);
      if (held) due.push([key, held, held.seq]);
    }
    if (due.length > 0) {
      let revisions: Array<number | null> | undefined;
      if (this.store.ready) {
        this.#expiring = true;
        const sentAt = Date.now();
        try {
          const r = await this.store.revisions(due.map(([key]) => encodeURIComponent(key)));
          this.#clock(r.clock, sentAt);
          revisions = r.revisions;
        } catch {
          // Redis unreachable: the deadline passed on the clock we last measured; announce it.
        }
        this.#expiring = false;
        if (this.#ended) return;
      }
      let newer = false;
      for (let i = 0; i < due.length; i++) {
        const [key, held, seq] = due[i]!;
        // Changed meanwhile (a write applied while Redis was asked re-armed or cleared the deadline itself).
        if (this.#items.get(key) !== held || held.seq !== seq || this.#heap.get(key) !== undefined) continue;
        const revision = revisions?.[i];
        if (revision != null && revision > held.seq) {
          newer = true; // a newer write is on its way: no `expire` for an item that lives on
          continue;
        }
        if (revision != null && revision === held.seq) {
          // Not yet expired on Redis's clock: due again in a moment (only an item that has a deadline).
          if ((held.deadline ?? 0) > 0) this.#heap.set(key, Math.max(held.deadline!, this.#redisNow() + 1));
          continue;
        }
        this.#remove(key, 'expire', held);
      }
      if (newer) this.#requestCatchUp();
    }
    this.#armExpiry();
  }

  // ---- catching up -------------------------------------------------------------------------------------------------

  /**
   * Ask for a catch-up: at once, or after the backoff when the last one achieved nothing; once the command
   * connection is ready when it is not. Safe to call at any time, any number of times.
   */
  #requestCatchUp(): void {
    if (this.#ended) return;
    this.#wanted = true;
    this.#doubt();
    if (this.#syncing || this.#retryTimer) return;
    if (this.#backoff === 0) return void this.#runCatchUp();
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#runCatchUp();
    }, timerDelay(this.#backoff));
    this.#retryTimer.unref();
  }

  /** Bring the copy up to what Redis holds. Resolves when done (or failed: it is retried). */
  catchUp(): Promise<void> {
    this.#wanted = true;
    return this.#runCatchUp();
  }

  async #runCatchUp(): Promise<void> {
    if (this.#syncing || this.#ended || !this.#wanted) return;
    // Not now: the command connection's `ready` (or the periodic check) asks again.
    if (!this.store.ready) return;
    this.#wanted = false;
    this.#syncing = true;
    this.#stats.catchUps++;
    let productive = false;
    try {
      productive = await this.#catchUp();
      this.#failing = false;
    } catch (err) {
      // One report per streak of failures (an outage), not one per retry.
      if (!this.#failing && !this.#ended)
        this.#report(
          this.trouble(
            'catchUp',
            `Collection ${this.options.name}: could not catch up with Redis (${(err as Error).message}); retrying.`,
            err,
          ),
        );
      this.#failing = true;
      this.#wanted = true;
      this.#doubt();
    } finally {
      this.#syncing = false;
    }
    if (this.#ended) return;
    this.#drain(!this.#failing);
    if (productive && !this.#wanted) this.#backoff = 0;
    else this.#backoff = Math.min(Math.max(MIN_BACKOFF_MS, this.#backoff * 2), this.options.syncInterval);
    if (this.#wanted) this.#requestCatchUp();
  }

  /** One catch-up: replay the log from the copy's position, or resync. True when it changed anything. */
  async #catchUp(): Promise<boolean> {
    let productive = false;
    for (;;) {
      const sentAt = Date.now();
      const r = await this.store.catchUp(this.#epoch, this.#seq, this.#t, REPLAY_PAGE);
      if (this.#ended) return productive;
      this.#clock(r.clock, sentAt);
      if (r.status === 'resync') {
        // Same epoch but not the same history: a forged notification was applied, or Redis went back to an older
        // state (a restart from an older snapshot, a failover to a lagging replica). Worth a report.
        if (this.#epoch !== '' && r.epoch === this.#epoch)
          this.#report(
            this.trouble(
              'diverged',
              `Collection ${this.options.name}: the copy did not match Redis (at seq ${this.#seq}, Redis at ${r.seq}: ` +
                'a forged notification, or Redis went back to an older state); resyncing.',
            ),
          );
        await this.#resync();
        this.#stats.resyncs++;
        return true;
      }
      if (r.entries.length === 0) {
        if (r.seq !== this.#seq) {
          // The meta is ahead of the log's end (a log that lost its tail): read everything.
          await this.#resync();
          this.#stats.resyncs++;
          return true;
        }
        this.#confirmed();
        return productive;
      }
      const entries = r.entries.map(parseLogEntry);
      let expected = this.#seq + 1;
      for (const e of entries) {
        if (typeof e === 'string' || e.seq !== expected++) {
          // Not a log this pack wrote: start over from a snapshot.
          await this.#resync();
          this.#stats.resyncs++;
          return true;
        }
      }
      productive = true;
      const now = this.#redisNow();
      // The page's changes (a batch among them) reach listeners once the copy holds all of them.
      this.#asOneStep(() => {
        for (const [encoded, stored] of r.items) {
          const key = decodeItemKey(encoded);
          if (key === undefined) continue;
          const held = this.#items.get(key);
          if (stored === null) {
            if (held) {
              const expired = isDue(held.deadline, now + EXPIRY_SLACK_MS);
              this.#remove(key, expired ? 'expire' : 'delete', held);
            }
            continue;
          }
          let item;
          try {
            item = decodeStored(stored);
          } catch {
            // Not an item of this pack (another program's key): skipped and counted, and no longer held, as a
            // resync would do.
            this.#stats.rejectedMessages++;
            if (held) this.#remove(key, 'delete', held);
            continue;
          }
          if (held && held.seq >= item.seq) continue;
          if (isDue(item.deadline, now)) {
            if (held) this.#remove(key, 'expire', held);
            continue;
          }
          this.#put(key, item.data, item.seq, item.rev, item.deadline ?? 0, held);
        }
      });
      if (this.#ended) return productive;
      const last = entries[entries.length - 1] as Exclude<(typeof entries)[number], string>;
      this.#seq = last.seq;
      this.#t = last.t;
      if (entries.length < REPLAY_PAGE) {
        if (this.#seq !== r.seq) {
          // The log ends before the meta's sequence number (a log that lost its tail): read everything.
          await this.#resync();
          this.#stats.resyncs++;
          return true;
        }
        this.#confirmed();
        return productive;
      }
    }
  }

  /** The copy holds what Redis held at `at` (default: now). */
  #confirmed(at = Date.now()): void {
    this.#suspect = undefined;
    this.#stats.lastSyncAt = Math.max(this.#stats.lastSyncAt, at);
    // Without the subscriber, changes after this moment would go unnoticed until the next check: still in doubt.
    if (this.#ended || this.#wanted || this.store.subscriberReady === false) return;
    this.#doubtSince = 0;
    clearTimeout(this.#staleTimer);
    this.#staleTimer = undefined;
    if (this.#status !== 'loading') this.#setStatus('live');
  }

  /**
   * Something keeps the copy from confirming what it holds (since `since`, default now). A doubt that lasts
   * longer than `syncInterval` makes the copy `stale`.
   */
  #doubt(since = Date.now()): void {
    if (this.#ended) return;
    if (this.#doubtSince !== 0 && this.#doubtSince <= since) return;
    this.#doubtSince = since;
    if (this.#status === 'loading') return; // start() sets the status once loaded
    clearTimeout(this.#staleTimer);
    this.#staleTimer = setTimeout(
      () => {
        this.#staleTimer = undefined;
        if (this.#doubtSince !== 0 && !this.#ended) this.#setStatus('stale');
      },
      timerDelay(since + this.options.syncInterval - Date.now()),
    );
    this.#staleTimer.unref();
  }

  #setStatus(status: ReplicaStatus): void {
    if (this.#status === status || this.#ended) return;
    this.#status = status;
    try {
      this.options.onStatus?.(status);
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Load a snapshot and make the copy equal to it, announcing every difference.
   *
   * The sequence number, epoch, stamp and member list are read together (MULTI); the items are then read in
   * pipelined windows, which keeps Redis answering other clients and overlaps its work with our decoding. An item
   * written after that point is read at its newer version (its `m:seq` says so) and the buffered notification for
   * it is then dropped as not newer; an item deleted after it is missing here and its buffered `delete` finds
   * nothing.
   */
  async #resync(): Promise<void> {
    const sentAt = Date.now();
    const head = await this.store.snapshotHead();
    if (this.#ended) return;
    this.#clock(head.clock, sentAt);
    // On a first load nothing is held, so nothing can have vanished: no need to remember what was seen. A copy that
    // was loaded before is not on a first load even when it holds nothing (an empty collection): its listeners are
    // live, and a batch must reach them whole.
    const seen = this.#status !== 'loading' || this.#items.size > 0 ? new Set<string>() : undefined;
    // A copy that already holds items announces the differences once it holds all of them (one step, as for a
    // batch); a first load announces items as it reads them (before subscribe() resolves).
    const release = seen ? this.#holdEvents() : () => undefined;
    try {
      await this.#load(head, seen);
    } finally {
      release();
    }
  }

  async #load(head: SnapshotHead, seen: Set<string> | undefined): Promise<void> {
    const members = head.members;
    const gone: string[] = [];
    // A copy loaded before (`seen`): the items read, applied together at the end (a first load applies as it reads).
    const staged: Array<[string, StoredItem]> | undefined = seen ? [] : undefined;
    // Windows are requested SNAPSHOT_AHEAD ahead of the one being decoded, so Redis and the network work while we
    // parse (one window ahead left Redis's side idle for a third of a 100k load). A window's reply waits whole in
    // Redis's output buffer: windows are sized by bytes (SNAPSHOT_WINDOW_BYTES, from the items read so far), the
    // first one small and alone, so a load of large items holds a few MB of Redis's memory, not 2,000 items' worth.
    const ahead: Array<{ start: number; reply: Promise<StoredValue[]> }> = [];
    let requested = 0;
    let size = SNAPSHOT_FIRST_WINDOW;
    let sized = false;
    const fill = () => {
      while (ahead.length < (sized ? SNAPSHOT_AHEAD : 1) && requested < members.length) {
        const reply = this.store.readItems(members.slice(requested, requested + size));
        reply.catch(() => undefined); // awaited in order below; a failure there ends the load
        ahead.push({ start: requested, reply });
        requested += size;
      }
    };
    fill();
    while (ahead.length > 0) {
      const window = ahead.shift()!;
      const start = window.start;
      const replies = await window.reply;
      let bytes = 0;
      for (let j = 0; j < replies.length; j++) {
        const r = replies[j];
        if (Array.isArray(r)) for (let f = 0; f < r.length; f++) bytes += r[f]!.length;
        else if (r) bytes += r.length;
      }
      size = Math.max(
        1,
        Math.min(SNAPSHOT_WINDOW, Math.floor(SNAPSHOT_WINDOW_BYTES / Math.max(1, bytes / Math.max(1, replies.length)))),
      );
      sized = true;
      fill();
      if (this.#ended) {
        await Promise.all(ahead.map((w) => w.reply)).catch(() => undefined);
        return;
      }
      const now = this.#redisNow();
      for (let j = 0; j < replies.length; j++) {
        const member = members[start + j]!;
        const stored = replies[j]!;
        if (stored === null) {
          gone.push(member); // deleted or expired since the member list was read, or a stale member
          continue;
        }
        let item;
        try {
          item = decodeStored(stored);
        } catch {
          this.#stats.rejectedMessages++;
          continue;
        }
        const key = decodeItemKey(member);
        if (key === undefined || item.seq === 0) continue;
        if (isDue(item.deadline, now)) continue;
        seen?.add(key);
        // Written after the head was read: its notification (buffered, applied after the load with the rest of its
        // write) or the catch-up it leads to brings it, so a batch is never half-applied by a re-sync.
        if (seen && item.seq > head.seq) continue;
        if (staged) staged.push([key, item]);
        else this.#put(key, item.data, item.seq, item.rev, item.deadline ?? 0, this.#items.get(key), item);
      }
    }
    if (this.#ended) return;
    // A resync of a copy that was loaded before changes what readers see in one step, once every window is read:
    // a reader calling get() between two windows must not see half of a batch (its events are held meanwhile).
    for (const [key, item] of staged ?? []) {
      this.#put(key, item.data, item.seq, item.rev, item.deadline ?? 0, this.#items.get(key), item);
    }
    const now = this.#redisNow();
    for (const [key, held] of seen ? [...this.#items] : []) {
      if (this.#ended) return;
      if (seen!.has(key)) continue;
      const expired = isDue(held.deadline, now + EXPIRY_SLACK_MS);
      this.#remove(key, expired ? 'expire' : 'delete', held);
    }
    this.#seq = head.seq;
    this.#epoch = head.epoch;
    this.#t = head.t;
    this.#confirmed();
    // Index members whose item is gone (expired items) are dropped here rather than by every write.
    if (gone.length > 0) void this.store.prune(gone).catch(() => undefined);
  }

  /** The periodic check. */
  async #poll(): Promise<void> {
    if (this.#ended) return;
    const now = Date.now();
    const interval = this.options.syncInterval;
    // Not confirmed for two intervals (whatever the reason): in doubt since one interval after the last one.
    if (now - this.#stats.lastSyncAt > 2 * interval) this.#doubt(this.#stats.lastSyncAt + interval);
    if (this.store.subscriberReady === false) this.#doubt();
    if (this.#checkSentAt !== 0) {
      // The last check is still unanswered (a server that stopped answering): in doubt since it was sent.
      if (now - this.#checkSentAt >= interval) this.#doubt(this.#checkSentAt);
      return;
    }
    if (this.#syncing) return;
    if (!this.store.ready) return this.#doubt(); // its `ready` asks for a catch-up when one is wanted
    if (this.#wanted || this.#pending.length > 0) return this.#requestCatchUp();
    const sentAt = (this.#checkSentAt = now);
    // The reply is compared with what the copy held when the check was sent: notifications keep arriving on the
    // subscriber connection meanwhile, so a copy busy with a stream of writes is often ahead of the reply by the
    // time it comes (comparing with its state then took that for Redis going back: a catch-up for nothing).
    const epoch = this.#epoch;
    const seq = this.#seq;
    const t = this.#t;
    try {
      const c = await this.store.check(seq);
      this.#checkSentAt = 0;
      if (this.#syncing || this.#ended) return;
      this.#clock(c.clock, sentAt);
      if (c.epoch !== epoch && c.epoch === this.#epoch) {
        // The copy moved to the reply's epoch while the check was in flight (the first write of a collection that
        // did not exist, taken from its own notification): nothing to resync, the next check compares like with like.
        return;
      }
      if (c.epoch !== epoch || c.seq < seq) {
        // Redis lost the collection, or went back to an older state: resync now.
        this.#requestCatchUp();
      } else if (c.seq === seq) {
        if (c.t !== t)
          this.#requestCatchUp(); // same number, another write: a forgery or an older state
        else this.#confirmed();
      } else if (c.entryT !== undefined && c.entryT !== t) {
        this.#requestCatchUp(); // the write at our position is not the one we applied
      } else if (this.#suspect !== undefined && this.#seq < this.#suspect) {
        this.#requestCatchUp(); // behind on two checks in a row: not just messages in flight
      } else {
        // Caught up with what the previous check saw (if any): the copy held all of it by now.
        if (this.#suspect !== undefined) this.#confirmed(this.#suspectAt);
        this.#suspect = c.seq;
        this.#suspectAt = sentAt;
      }
    } catch {
      // Redis unreachable: the reconnect (`ready`) triggers a catch-up.
      this.#checkSentAt = 0;
      this.#doubt();
    }
  }
}
