/**
 * A fake of what a replica asks of Redis (lib/collections/store.ts), modelling one collection the way the write
 * and catch-up scripts do, in memory. Tests write through it, then choose which notifications the replica gets
 * (in order, duplicated, dropped, forged…): the replica's sequencing logic, tested without a server.
 */
import type { CatchUpReply, CheckReply, ReplicaStore, SnapshotHead } from '../../lib/collections/store';
import type { StoredValue } from '../../lib/collections/codec';

interface LogRow {
  seq: number;
  t: string;
  op: 's' | 'd';
  key: string;
  dl: number;
}
interface State {
  epoch: string;
  seq: number;
  t: number;
  log: LogRow[];
  items: Map<string, { data: Record<string, unknown>; seq: number; dl: number }>;
}

const clone = (s: State): State => ({
  ...s,
  log: [...s.log],
  items: new Map([...s.items].map(([k, v]) => [k, { ...v }])),
});

export class FakeStore implements ReplicaStore {
  ready = true;
  listener: ((message: string) => void) | undefined;
  onSubscriberReady: (() => void) | undefined;
  onCommandReady: (() => void) | undefined;
  /** Calls by name, to count round trips. */
  readonly calls: Record<string, number> = {};
  /** When set, every command rejects with it (Redis unreachable). */
  failWith: Error | undefined;
  private state: State = { epoch: '', seq: 0, t: 0, log: [], items: new Map() };
  private epochs = 0;
  private lastStamp = 0;
  /** Redis's clock, ahead of ours by this much (ms). */
  clockOffset = 0;

  private call(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
    if (this.failWith) throw this.failWith;
  }

  /** Write an item as the set script does; returns the notification it publishes (not delivered). */
  set(key: string, data: Record<string, unknown>, ttlMs = 0): string {
    const { seq, t, pt, epoch } = this.next();
    const dl = ttlMs > 0 ? Date.now() + this.clockOffset + ttlMs : 0;
    this.state.items.set(key, { data, seq, dl });
    this.state.log.push({ seq, t: String(t), op: 's', key, dl });
    return `${seq}\n${epoch}\n${t}\n${pt}\ns\n${encodeURIComponent(key)}\n${dl}\n${JSON.stringify(data)}`;
  }

  del(key: string): string {
    const { seq, t, pt, epoch } = this.next();
    this.state.items.delete(key);
    this.state.log.push({ seq, t: String(t), op: 'd', key, dl: 0 });
    return `${seq}\n${epoch}\n${t}\n${pt}\nd\n${encodeURIComponent(key)}\n0\n`;
  }

  private next() {
    if (!this.state.epoch) this.state.epoch = `e${++this.epochs}`;
    const pt = this.state.t;
    this.state.seq++;
    // Like Redis's TIME: moves forward even when the state goes back (a restore is a restart, later in time).
    this.state.t = this.lastStamp = Math.max(Date.now() * 1000, pt + 1, this.lastStamp + 1);
    return { seq: this.state.seq, t: this.state.t, pt, epoch: this.state.epoch };
  }

  /** The meta's stamp (what a forger reading the channel knows). */
  get stamp(): string {
    return String(this.state.t);
  }
  get seq(): number {
    return this.state.seq;
  }
  get epoch(): string {
    return this.state.epoch;
  }

  /** Everything Redis holds now: key → data. */
  truth(): Record<string, unknown> {
    const now = Date.now() + this.clockOffset;
    const out: Record<string, unknown> = {};
    for (const [k, v] of [...this.state.items].sort(([a], [b]) => (a < b ? -1 : 1)))
      if (!v.dl || v.dl > now) out[k] = v.data;
    return out;
  }

  /** A copy of the state (an RDB snapshot), to go back to with `restore`. */
  save(): State {
    return clone(this.state);
  }
  restore(s: State): void {
    this.state = clone(s);
  }
  /** Redis restarted empty (or FLUSHALL). */
  flush(): void {
    this.state = { epoch: '', seq: 0, t: 0, log: [], items: new Map() };
  }

  /** Deliver a message to the replica, as the subscriber connection would. */
  deliver(message: string): void {
    this.listener?.(message);
  }

  subscribe(listener: (message: string) => void): Promise<void> {
    this.call('subscribe');
    this.listener = listener;
    return Promise.resolve();
  }
  unsubscribe(): Promise<void> {
    this.listener = undefined;
    return Promise.resolve();
  }
  watch(onSubscriberReady: () => void, onCommandReady: () => void): void {
    this.onSubscriberReady = onSubscriberReady;
    this.onCommandReady = onCommandReady;
  }
  unwatch(): void {
    this.onSubscriberReady = this.onCommandReady = undefined;
  }

  private now(): number {
    return Date.now() + this.clockOffset;
  }
  /** The item as Redis stores it (see codec.ts): one JSON string; null when gone. */
  private stored(key: string): StoredValue {
    const v = this.state.items.get(key);
    if (!v || (v.dl && v.dl <= this.now())) return null;
    return JSON.stringify({ s: v.seq, r: v.seq, d: v.dl, v: v.data });
  }

  async snapshotHead(): Promise<SnapshotHead> {
    await Promise.resolve();
    this.call('snapshotHead');
    const s = this.state;
    return {
      seq: s.seq,
      epoch: s.epoch,
      t: String(s.t),
      members: [...s.items.keys()].map(encodeURIComponent),
      clock: this.now(),
    };
  }
  async readItems(members: string[]): Promise<StoredValue[]> {
    await Promise.resolve();
    this.call('readItems');
    return members.map((m) => this.stored(decodeURIComponent(m)));
  }
  async catchUp(epoch: string, seq: number, t: string, max: number): Promise<CatchUpReply> {
    await Promise.resolve();
    this.call('catchUp');
    const s = this.state;
    const reply = (status: 'ok' | 'resync', rows: LogRow[] = []): CatchUpReply => {
      const items = new Map<string, StoredValue>();
      for (const r of rows) items.set(encodeURIComponent(r.key), this.stored(r.key));
      return {
        status,
        seq: s.seq,
        epoch: s.epoch,
        t: String(s.t),
        clock: this.now(),
        entries: rows.map((r) => [
          `${r.seq}-0`,
          ['t', r.t, 'o', r.op, 'k', encodeURIComponent(r.key), 'd', String(r.dl)],
        ]),
        items,
      };
    };
    if (s.epoch !== epoch || s.seq < seq) return reply('resync');
    if (s.seq === seq) return reply(String(s.t) === t ? 'ok' : 'resync');
    const at = s.log.findIndex((r) => r.seq === seq);
    if (at < 0 || s.log[at]!.t !== t) return reply('resync');
    return reply('ok', s.log.slice(at + 1, at + 1 + max));
  }
  async check(seq: number): Promise<CheckReply> {
    await Promise.resolve();
    this.call('check');
    const s = this.state;
    return {
      seq: s.seq,
      epoch: s.epoch,
      t: String(s.t),
      clock: this.now(),
      entryT: s.log.find((r) => r.seq === seq)?.t,
    };
  }
  async revisions(encodedKeys: string[]): Promise<{ revisions: Array<number | null>; clock: number }> {
    await Promise.resolve();
    this.call('revisions');
    return {
      revisions: encodedKeys.map((k) => {
        const v = this.state.items.get(decodeURIComponent(k));
        return v && !(v.dl && v.dl <= this.now()) ? v.seq : null;
      }),
      clock: this.now(),
    };
  }
  async prune(): Promise<void> {
    await Promise.resolve();
    this.call('prune');
  }
}
