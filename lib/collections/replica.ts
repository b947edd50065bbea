/**
 * A process's copy of one collection, kept equal to what Redis holds.
 *
 * - Late join: subscribe first (buffering), then load an atomic snapshot stamped with the sequence number, then
 *   apply the buffered notifications newer than it.
 * - Order and duplicates: every notification carries the collection's sequence number; anything not newer than
 *   what the copy holds is dropped, so no change is applied (or announced) twice.
 * - Missed notifications: a gap in the sequence, a reconnect of the subscriber, or a periodic check of the
 *   collection's sequence number (every `syncInterval`) replays the change log; when the log no longer covers the
 *   gap, or the collection's epoch changed (Redis restarted empty), a full resync compares a fresh snapshot with
 *   the copy and announces the differences, vanished items included.
 * - Expiry: each notification and snapshot carries the item's remaining TTL; a local timer announces `expire` with
 *   the last copy, so no keyspace notifications are needed.
 */
import type { RedisClient } from '../connection/client';
import { decodeHash, parseNotification, sameJson, type CollectionKeys, type Notification } from './codec';

export type ChangeType = 'set' | 'delete' | 'expire';
/** Called for every change of the copy. `data` is the new contents (`set`) or the last copy held. */
export type ChangeHandler = (type: ChangeType, key: string, data: Record<string, unknown>) => void;
/** Called for trouble that does not stop the replica (a failed catch-up is retried). */
export type TroubleHandler = (err: Error) => void;

interface Entry {
  data: Record<string, unknown>;
  seq: number;
  /** When the item expires (ms since epoch), 0 for never. */
  deadline: number;
}

/** How close to its deadline a vanished item counts as expired rather than deleted. */
const EXPIRY_SLACK_MS = 1000;
/** Items read per pipelined window while loading a snapshot. */
const SNAPSHOT_WINDOW = 2000;
/** Change log entries fetched per round trip during a replay. */
const REPLAY_PAGE = 1000;

/** A binary min-heap of expiry deadlines (stale entries are skipped when popped). */
class DeadlineHeap {
  private readonly at: number[] = [];
  private readonly keys: string[] = [];
  get size(): number {
    return this.at.length;
  }
  peek(): number | undefined {
    return this.at[0];
  }
  push(at: number, key: string): void {
    this.at.push(at);
    this.keys.push(key);
    let i = this.at.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.at[p]! <= at) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, string] | undefined {
    if (this.at.length === 0) return undefined;
    const top: [number, string] = [this.at[0]!, this.keys[0]!];
    const lastAt = this.at.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.at.length > 0) {
      this.at[0] = lastAt;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.at.length && this.at[l]! < this.at[m]!) m = l;
        if (r < this.at.length && this.at[r]! < this.at[m]!) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
  clear(): void {
    this.at.length = 0;
    this.keys.length = 0;
  }
  private swap(a: number, b: number): void {
    [this.at[a], this.at[b]] = [this.at[b]!, this.at[a]!];
    [this.keys[a], this.keys[b]] = [this.keys[b]!, this.keys[a]!];
  }
}

export interface ReplicaOptions {
  /** How often (ms) the copy checks the collection's sequence number in Redis, to catch a lost notification. */
  syncInterval: number;
  /** Sharded pub/sub (SSUBSCRIBE), for a Cluster. */
  sharded: boolean;
}

/** The live copy of one collection. Made by the subscribeCollection machine. */
export class Replica {
  readonly #items = new Map<string, Entry>();
  readonly #heap = new DeadlineHeap();
  #lastSeq = 0;
  #epoch = '';
  #syncing = false;
  #pending: Notification[] = [];
  #ended = false;
  #suspect: number | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAt = 0;
  #pollTimer: NodeJS.Timeout | undefined;
  readonly #listener = (message: string) => this.#onMessage(message);
  readonly #onReady = () => void this.catchUp();
  /** Full resyncs done after the first load (a gap the change log could not cover, or an epoch change). */
  resyncs = 0;

  constructor(
    readonly keys: CollectionKeys,
    private readonly command: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly onChange: ChangeHandler,
    private readonly onTrouble: TroubleHandler,
    private readonly options: ReplicaOptions,
  ) {}

  /** Subscribe, load the snapshot, announce its items as `set`. Resolves once the copy is loaded. */
  async start(): Promise<void> {
    this.#syncing = true;
    try {
      if (this.options.sharded) await this.subscriber.sSubscribe(this.keys.channel, this.#listener);
      else await this.subscriber.subscribe(this.keys.channel, this.#listener);
      await this.#resync();
    } catch (err) {
      this.#syncing = false;
      await this.end();
      throw err;
    }
    this.#syncing = false;
    this.#drain();
    // Every replica on a shared subscriber connection listens for its `ready`: raise the limit as they come.
    this.subscriber.setMaxListeners(this.subscriber.getMaxListeners() + 1);
    this.subscriber.on('ready', this.#onReady);
    this.#pollTimer = setInterval(() => void this.#poll(), this.options.syncInterval);
    this.#pollTimer.unref();
  }

  /** Stop following the collection; the copy is kept but no longer updated. Idempotent. */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#expiryTimer);
    this.#heap.clear();
    if (this.subscriber.listeners('ready').includes(this.#onReady)) {
      this.subscriber.off('ready', this.#onReady);
      this.subscriber.setMaxListeners(Math.max(10, this.subscriber.getMaxListeners() - 1));
    }
    if (this.subscriber.isOpen) {
      const off = this.options.sharded
        ? this.subscriber.sUnsubscribe(this.keys.channel, this.#listener)
        : this.subscriber.unsubscribe(this.keys.channel, this.#listener);
      await off.catch(() => undefined);
    }
  }

  get ended(): boolean {
    return this.#ended;
  }
  get size(): number {
    return this.#items.size;
  }
  /** The sequence number of the last change applied. */
  get seq(): number {
    return this.#lastSeq;
  }
  get(key: string): Record<string, unknown> | undefined {
    return this.#items.get(key)?.data;
  }
  has(key: string): boolean {
    return this.#items.has(key);
  }
  keysList(): string[] {
    return [...this.#items.keys()];
  }

  #onMessage(message: string): void {
    try {
      const n = parseNotification(message);
      if (!n || this.#ended) return;
      // While catching up, or while earlier notifications wait for a catch-up that failed, keep the order.
      if (this.#syncing || this.#pending.length > 0) this.#pending.push(n);
      else this.#apply(n);
    } catch (err) {
      this.onTrouble(err as Error);
    }
  }

  /** Apply one notification in sequence order; a gap or a foreign epoch starts a catch-up instead. */
  #apply(n: Notification): void {
    if (n.epoch !== this.#epoch) {
      if (this.#epoch === '' && this.#lastSeq === 0 && n.seq === 1) {
        this.#epoch = n.epoch; // the collection was created after our snapshot
      } else {
        this.#pending.push(n);
        void this.catchUp();
        return;
      }
    }
    if (n.seq <= this.#lastSeq) return;
    if (n.seq > this.#lastSeq + 1) {
      this.#pending.push(n);
      void this.catchUp();
      return;
    }
    this.#lastSeq = n.seq;
    this.#change(n);
  }

  #change(n: Notification): void {
    const held = this.#items.get(n.key);
    if (held && held.seq >= n.seq) return;
    if (n.op === 'd') {
      if (!held) return;
      this.#items.delete(n.key);
      this.onChange('delete', n.key, held.data);
      return;
    }
    const data = JSON.parse(n.payload) as Record<string, unknown>;
    this.#put(n.key, data, n.seq, n.ttlMs > 0 ? Date.now() + n.ttlMs : 0, held);
  }

  /** Store an item; announce `set` only when its contents changed. */
  #put(key: string, data: Record<string, unknown>, seq: number, deadline: number, held: Entry | undefined): void {
    if (held && sameJson(held.data, data)) {
      held.seq = seq;
      held.deadline = deadline;
    } else {
      this.#items.set(key, { data, seq, deadline });
      this.onChange('set', key, data);
    }
    if (deadline > 0) this.#schedule(deadline, key);
  }

  #schedule(deadline: number, key: string): void {
    this.#heap.push(deadline, key);
    if (this.#expiryTimer && this.#expiryAt <= deadline) return;
    clearTimeout(this.#expiryTimer);
    this.#expiryAt = deadline;
    this.#expiryTimer = setTimeout(() => this.#expire(), Math.max(0, deadline - Date.now()));
    this.#expiryTimer.unref();
  }

  #expire(): void {
    this.#expiryTimer = undefined;
    const now = Date.now();
    while (this.#heap.size > 0 && this.#heap.peek()! <= now) {
      const [at, key] = this.#heap.pop()!;
      const held = this.#items.get(key);
      if (!held || held.deadline !== at) continue; // re-set or deleted since
      this.#items.delete(key);
      this.onChange('expire', key, held.data);
    }
    const next = this.#heap.peek();
    if (next !== undefined && !this.#ended) {
      this.#expiryAt = next;
      this.#expiryTimer = setTimeout(() => this.#expire(), Math.max(0, next - Date.now()));
      this.#expiryTimer.unref();
    }
  }

  /** Apply buffered notifications in order (after a load or a catch-up). */
  #drain(): void {
    const pending = this.#pending.sort((a, b) => a.seq - b.seq);
    this.#pending = [];
    for (const n of pending) {
      if (this.#syncing) this.#pending.push(n);
      else this.#apply(n);
    }
  }

  /**
   * Bring the copy up to what Redis holds: replay the change log from the last sequence number applied, or do a
   * full resync when the log no longer covers it or the collection's epoch changed. Safe to call at any time.
   */
  async catchUp(): Promise<void> {
    if (this.#syncing || this.#ended) return;
    this.#syncing = true;
    let ok = false;
    try {
      if (!(await this.#replay())) {
        await this.#resync();
        this.resyncs++;
      }
      ok = true;
    } catch (err) {
      // Redis unreachable or refusing: keep what is buffered; the next poll or reconnect tries again. Draining
      // now would start another catch-up that fails at once, in a loop that never yields.
      this.onTrouble(err as Error);
    } finally {
      this.#syncing = false;
    }
    if (ok && !this.#ended) this.#drain();
  }

  /** Replay the change log; false when it cannot bring the copy up to date (a full resync is needed). */
  async #replay(): Promise<boolean> {
    for (;;) {
      const entries = (await this.command.xRange(this.keys.log, `${this.#lastSeq + 1}-0`, '+', {
        COUNT: REPLAY_PAGE,
      })) as Array<{ id: string; message: Record<string, string> }>;
      if (entries.length === 0) {
        const [seq, epoch] = (await this.command.hmGet(this.keys.meta, ['seq', 'epoch'])) as Array<string | null>;
        return (epoch ?? '') === this.#epoch && Number(seq ?? 0) <= this.#lastSeq;
      }
      for (const entry of entries) {
        const n = parseNotification(entry.message.m ?? '');
        if (!n || n.epoch !== this.#epoch || n.seq !== this.#lastSeq + 1) return false;
        this.#lastSeq = n.seq;
        this.#change(n);
        if (this.#ended) return true;
      }
      if (entries.length < REPLAY_PAGE) return true;
    }
  }

  /**
   * Load a snapshot and make the copy equal to it, announcing every difference.
   *
   * The sequence number, epoch and member list are read together (MULTI); the items are then read in pipelined
   * batches, which keeps Redis answering other clients and overlaps its work with our decoding. An item written
   * after that point is read at its newer version (its `m:seq` says so) and the buffered notification for it is
   * then dropped as not newer; an item deleted after it is missing here and its buffered `delete` finds nothing.
   */
  async #resync(): Promise<void> {
    const [meta, members] = (await this.command
      .multi()
      .hmGet(this.keys.meta, ['seq', 'epoch'])
      .sMembers(this.keys.index)
      .exec()) as unknown as [Array<string | null>, string[]];
    if (this.#ended) return;
    // On a first load nothing is held, so nothing can have vanished: no need to remember what was seen.
    const seen = this.#items.size > 0 ? new Set<string>() : undefined;
    // One pipeline (no MULTI) per window of items; the next window is requested before this one is decoded, so
    // Redis and the network work while we parse.
    const fetchWindow = (start: number) => {
      const pipeline = this.command.multi();
      const end = Math.min(members.length, start + SNAPSHOT_WINDOW);
      for (let i = start; i < end; i++) {
        const k = this.keys.itemPrefix + members[i]!;
        pipeline.hGetAll(k).pTTL(k);
      }
      return pipeline.execAsPipeline() as Promise<unknown[]>;
    };
    let next = members.length > 0 ? fetchWindow(0) : undefined;
    for (let start = 0; next; start += SNAPSHOT_WINDOW) {
      const replies = await next;
      next = start + SNAPSHOT_WINDOW < members.length ? fetchWindow(start + SNAPSHOT_WINDOW) : undefined;
      if (this.#ended) {
        await next?.catch(() => undefined);
        return;
      }
      const now = Date.now();
      for (let j = 0; 2 * j < replies.length; j++) {
        const { data, seq } = decodeHash(replies[2 * j] as Record<string, string>);
        if (seq === 0) continue; // gone (deleted or expired) since the member list was read
        const member = members[start + j]!;
        const key = member.includes('%') ? decodeURIComponent(member) : member;
        seen?.add(key);
        const ttl = Number(replies[2 * j + 1]);
        this.#put(key, data, seq, ttl > 0 ? now + ttl : 0, this.#items.get(key));
      }
    }
    const now = Date.now();
    for (const [key, held] of seen ? this.#items : []) {
      if (seen!.has(key)) continue;
      this.#items.delete(key);
      const expired = held.deadline > 0 && held.deadline <= now + EXPIRY_SLACK_MS;
      this.onChange(expired ? 'expire' : 'delete', key, held.data);
    }
    this.#lastSeq = Number(meta[0] ?? 0);
    this.#epoch = meta[1] ?? '';
    this.#suspect = undefined;
  }

  /** The periodic check: behind on two checks in a row (not just in-flight messages) → catch up. */
  async #poll(): Promise<void> {
    if (this.#syncing || this.#ended || this.command.isReady === false) return;
    if (this.#pending.length > 0) return void (await this.catchUp());
    try {
      const [seq, epoch] = (await this.command.hmGet(this.keys.meta, ['seq', 'epoch'])) as Array<string | null>;
      const current = Number(seq ?? 0);
      if ((epoch ?? '') !== this.#epoch) {
        // Redis lost the collection (restart) or re-created it: a different epoch is never in flight for long.
        if (this.#suspect === -1) await this.catchUp();
        else this.#suspect = -1;
        return;
      }
      if (current > this.#lastSeq) {
        if (this.#suspect !== undefined && this.#suspect !== -1 && this.#lastSeq < this.#suspect) await this.catchUp();
        else this.#suspect = current;
      } else {
        this.#suspect = undefined;
      }
    } catch {
      // Redis unreachable: the subscriber's reconnect triggers a catch-up.
    }
  }
}
