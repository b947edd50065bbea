/**
 * What a replica asks of Redis, in one small interface: the replica's sequencing logic talks only to this, so it
 * can be driven by a fake in unit tests (test/unit/replica.test.ts) and by Redis here.
 *
 * Every command goes through the connection's reply bound (`bounded`), like machine calls: a command connection
 * that stops answering is reset and the waiting command rejected, never left pending.
 */
import { MultiErrorReply, RESP_TYPES } from 'redis';
import { bounded } from '../connection';
import type { RedisClient } from '../connection/client';
import type { CollectionKeys, StoredValue } from './codec';
import { timerDelay } from './expiry-heap';
import { run, scripts } from './scripts';

/** The head of a snapshot: the meta, the index members and Redis's clock, read together (MULTI). */
export interface SnapshotHead {
  seq: number;
  epoch: string;
  t: string;
  members: string[];
  /** Redis's clock (ms since epoch) when it was read. */
  clock: number;
}

/** The answer of a catch-up (the catch-up script, see scripts.ts). */
export interface CatchUpReply {
  status: 'ok' | 'resync';
  seq: number;
  epoch: string;
  t: string;
  clock: number;
  /** Raw log entries after the copy's position (`[id, [field, value, …]]`). */
  entries: unknown[];
  /** Encoded key → the item as stored (null: gone) of every key the entries name. */
  items: Map<string, StoredValue>;
}

/** The periodic check: the meta, Redis's clock, and the stamp of the log entry at the copy's position. */
export interface CheckReply {
  seq: number;
  epoch: string;
  t: string;
  clock: number;
  /** The stamp of the log entry with the copy's sequence number; undefined when the log no longer has it. */
  entryT: string | undefined;
}

export interface ReplicaStore {
  /** Whether the command connection can take commands now (a catch-up waits for it otherwise). */
  readonly ready: boolean;
  /** Whether the subscriber connection is up (undefined: not known, taken as up). */
  readonly subscriberReady?: boolean;
  subscribe(listener: (message: string) => void): Promise<void>;
  unsubscribe(listener: (message: string) => void): Promise<void>;
  /**
   * Calls `onSubscriberReady` after the subscriber reconnected, `onCommandReady` after the command connection did,
   * `onLost` as soon as either of them dropped.
   */
  watch(onSubscriberReady: () => void, onCommandReady: () => void, onLost?: () => void): void;
  unwatch(): void;
  snapshotHead(): Promise<SnapshotHead>;
  /** These (encoded) members' items as stored, in order (null: gone). */
  readItems(members: string[]): Promise<StoredValue[]>;
  catchUp(epoch: string, seq: number, t: string, max: number): Promise<CatchUpReply>;
  check(seq: number): Promise<CheckReply>;
  /**
   * Call `tick` every `ms`, on a timer shared by every replica of the same connection and interval, so their
   * periodic checks go out together (see `check`). Returns the function that stops it. Optional: a store without
   * it gets a timer per replica.
   */
  every?(ms: number, tick: () => void): () => void;
  /** The sequence number of each item's last write, null when gone; and Redis's clock. */
  revisions(encodedKeys: string[]): Promise<{ revisions: Array<number | null>; clock: number }>;
  /** Drop index members whose item is gone. */
  prune(members: string[]): Promise<void>;
}

function clockMs(seconds: unknown, micros: unknown): number {
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** A periodic check waiting for its connection's next batch. */
interface PendingCheck {
  keys: CollectionKeys;
  seq: number;
  resolve: (reply: CheckReply) => void;
  reject: (err: unknown) => void;
}

/** Per command connection: the shared tick timers (by interval) and the checks waiting to go out together. */
interface ConnectionSchedule {
  tickers: Map<number, { timer: NodeJS.Timeout; ticks: Set<() => void> }>;
  pending: PendingCheck[];
}
const schedules = new WeakMap<RedisClient, ConnectionSchedule>();
function scheduleOf(command: RedisClient): ConnectionSchedule {
  let s = schedules.get(command);
  if (!s) schedules.set(command, (s = { tickers: new Map(), pending: [] }));
  return s;
}

type CheckReplies = [Array<string | null>, Array<{ message: Record<string, string> }>];
function checkReply(meta: Array<string | null>, entry: CheckReplies[1], clock: string[]): CheckReply {
  return {
    seq: Number(meta[0] ?? 0) || 0,
    epoch: meta[1] ?? '',
    t: meta[2] ?? '0',
    clock: clockMs(clock[0], clock[1]),
    entryT: entry?.[0]?.message?.t,
  };
}

/**
 * Send every check queued on this connection in the same turn as one transaction: the meta and the log entry
 * at the copy's position for each collection, then Redis's clock. One round trip per connection per tick,
 * whatever the number of collections. A collection whose commands Redis refused (a stray key of another type)
 * fails alone.
 */
async function flushChecks(command: RedisClient, schedule: ConnectionSchedule): Promise<void> {
  const batch = schedule.pending;
  schedule.pending = [];
  let replies: unknown[];
  try {
    const multi = command.multi();
    for (const c of batch) {
      const id = `${c.seq}-0`;
      multi.hmGet(c.keys.meta, ['seq', 'epoch', 't']).xRange(c.keys.log, id, id);
    }
    multi.time();
    try {
      replies = (await bounded(command, multi.exec())) as unknown[];
    } catch (err) {
      if (!(err instanceof MultiErrorReply)) throw err;
      replies = err.replies;
    }
  } catch (err) {
    for (const c of batch) c.reject(err);
    return;
  }
  const clock = replies[replies.length - 1];
  for (let i = 0; i < batch.length; i++) {
    const meta = replies[2 * i];
    const entry = replies[2 * i + 1];
    const failed = [meta, entry, clock].find((r) => r instanceof Error);
    if (failed) batch[i]!.reject(failed);
    else batch[i]!.resolve(checkReply(meta as CheckReplies[0], entry as CheckReplies[1], clock as string[]));
  }
}

/**
 * The connection with strings as Buffers, for snapshot windows: an item's numbers are read from its bytes and only
 * its JSON becomes a string (node-redis would make the whole reply a string, then parsing would copy a slice of it).
 */
const byteClients = new WeakMap<RedisClient, RedisClient>();
function bytesOf(command: RedisClient): RedisClient {
  let c = byteClients.get(command);
  if (!c) byteClients.set(command, (c = command.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }) as RedisClient));
  return c;
}

/** Keys per call of the script that reads items MGET had no string for (hashes of earlier layouts, or gone). */
const READ_ANY_KEYS = 16;

/**
 * An item as read from Redis: its string (the current layout), the field/value pairs of a hash (an older layout;
 * RESP2 gives an array, RESP3 may give an object or a Map), or null when there is none.
 */
function storedValue(reply: unknown): StoredValue {
  if (typeof reply === 'string') return reply;
  if (Array.isArray(reply)) return reply.length === 0 ? null : reply.map(String);
  if (reply instanceof Map) return reply.size === 0 ? null : [...reply].flat().map(String);
  if (reply && typeof reply === 'object') {
    const flat = Object.entries(reply).flat().map(String);
    return flat.length === 0 ? null : flat;
  }
  return null;
}

/** The replica's store on a node-redis connection (commands) and a subscriber connection. */
export function redisStore(
  keys: CollectionKeys,
  command: RedisClient,
  subscriber: RedisClient,
  sharded: boolean,
): ReplicaStore {
  let onSub: (() => void) | undefined;
  let onCmd: (() => void) | undefined;
  let onDrop: (() => void) | undefined;
  const raise = (c: RedisClient) => c.setMaxListeners(c.getMaxListeners() + 1);
  const lower = (c: RedisClient) => c.setMaxListeners(Math.max(10, c.getMaxListeners() - 1));
  return {
    get ready() {
      return command.isReady;
    },
    get subscriberReady() {
      return subscriber.isReady;
    },
    subscribe: (listener) =>
      bounded(
        subscriber,
        sharded ? subscriber.sSubscribe(keys.channel, listener) : subscriber.subscribe(keys.channel, listener),
      ),
    unsubscribe: async (listener) => {
      if (!subscriber.isOpen) return;
      const off = sharded
        ? subscriber.sUnsubscribe(keys.channel, listener)
        : subscriber.unsubscribe(keys.channel, listener);
      await bounded(subscriber, off).catch(() => undefined);
    },
    watch(onSubscriberReady, onCommandReady, onLost) {
      // Every replica on a shared connection listens for its `ready` and `reconnecting`: raise the limit as they come.
      onSub = onSubscriberReady;
      onCmd = onCommandReady;
      onDrop = onLost;
      raise(subscriber);
      raise(subscriber);
      subscriber.on('ready', onSub);
      if (onDrop) subscriber.on('reconnecting', onDrop);
      if (command !== subscriber) {
        raise(command);
        raise(command);
      }
      command.on('ready', onCmd);
      if (onDrop && command !== subscriber) command.on('reconnecting', onDrop);
    },
    unwatch() {
      if (onSub) {
        subscriber.off('ready', onSub);
        if (onDrop) subscriber.off('reconnecting', onDrop);
        lower(subscriber);
        lower(subscriber);
      }
      if (onCmd) {
        command.off('ready', onCmd);
        if (onDrop) command.off('reconnecting', onDrop);
        if (command !== subscriber) {
          lower(command);
          lower(command);
        }
      }
      onSub = onCmd = onDrop = undefined;
    },
    async snapshotHead() {
      const [meta, members, clock] = (await bounded(
        command,
        command.multi().hmGet(keys.meta, ['seq', 'epoch', 't']).sMembers(keys.index).time().exec(),
      )) as unknown as [Array<string | null>, string[], string[]];
      return {
        seq: Number(meta[0] ?? 0) || 0,
        epoch: meta[1] ?? '',
        t: meta[2] ?? '0',
        members,
        clock: clockMs(clock[0], clock[1]),
      };
    },
    async readItems(members) {
      if (members.length === 0) return [];
      // One MGET for the window (Redis answers it without running a script per item); the few keys it has no
      // string for (gone, or an item of an older layout: a hash) are read again whatever their type.
      const itemKeys = new Array<string>(members.length);
      for (let i = 0; i < members.length; i++) itemKeys[i] = keys.itemPrefix + members[i]!;
      const values = (await bounded(command, bytesOf(command).mGet(itemKeys))) as StoredValue[];
      let missing: number[] | undefined;
      for (let i = 0; i < values.length; i++) if (values[i] === null) (missing ??= []).push(i);
      if (missing) {
        // A few keys per script call, the calls pipelined: a script blocks Redis while it runs, and an item of the
        // first layout can be hundreds of fields.
        const calls: Array<Promise<unknown>> = [];
        for (let j = 0; j < missing.length; j += READ_ANY_KEYS) {
          const chunk = missing.slice(j, j + READ_ANY_KEYS).map((i) => itemKeys[i]!);
          calls.push(bounded(command, run(command, scripts.readAny, chunk, [])));
        }
        const again = ((await Promise.all(calls)) as unknown[][]).flat(1);
        for (let j = 0; j < missing.length; j++) values[missing[j]!] = storedValue(again[j]);
      }
      return values;
    },
    async catchUp(epoch, seq, t, max) {
      const r = (await bounded(
        command,
        run(command, scripts.catchUp, [keys.meta, keys.log], [epoch, String(seq), t, String(max), keys.itemPrefix]),
      )) as [string, string, string, string, string, string, unknown[], unknown[]];
      const items = new Map<string, StoredValue>();
      const list = r[7] ?? [];
      for (let i = 0; i + 1 < list.length; i += 2) items.set(String(list[i]), storedValue(list[i + 1]));
      return {
        status: r[0] === 'ok' ? 'ok' : 'resync',
        seq: Number(r[1]) || 0,
        epoch: String(r[2] ?? ''),
        t: String(r[3] ?? '0'),
        clock: clockMs(r[4], r[5]),
        entries: r[6] ?? [],
        items,
      };
    },
    async check(seq) {
      if (sharded) {
        // A cluster keeps each collection in its own slot: one transaction per collection.
        const id = `${seq}-0`;
        const [meta, entry, clock] = (await bounded(
          command,
          command.multi().hmGet(keys.meta, ['seq', 'epoch', 't']).xRange(keys.log, id, id).time().exec(),
        )) as unknown as [...CheckReplies, string[]];
        return checkReply(meta, entry, clock);
      }
      const schedule = scheduleOf(command);
      return new Promise<CheckReply>((resolve, reject) => {
        if (schedule.pending.push({ keys, seq, resolve, reject }) === 1)
          queueMicrotask(() => void flushChecks(command, schedule));
      });
    },
    every(ms, tick) {
      const { tickers } = scheduleOf(command);
      let ticker = tickers.get(ms);
      if (!ticker) {
        const ticks = new Set<() => void>();
        const timer = setInterval(() => {
          for (const t of [...ticks]) t();
        }, timerDelay(ms));
        timer.unref();
        tickers.set(ms, (ticker = { timer, ticks }));
      }
      const entry = ticker;
      // A function of its own, so the same `tick` added twice is two subscriptions.
      const own = () => tick();
      entry.ticks.add(own);
      return () => {
        entry.ticks.delete(own);
        if (entry.ticks.size === 0 && tickers.get(ms) === entry) {
          clearInterval(entry.timer);
          tickers.delete(ms);
        }
      };
    },
    async revisions(encodedKeys) {
      const itemKeys = encodedKeys.map((k) => keys.itemPrefix + k);
      const replies = (await bounded(command, run(command, scripts.seqs, itemKeys, []))) as unknown[];
      const micros = replies.pop();
      const seconds = replies.pop();
      return {
        revisions: replies.map((r) => (r === null || r === undefined ? null : Number(r))),
        clock: clockMs(seconds, micros),
      };
    },
    async prune(members) {
      await bounded(command, run(command, scripts.prune, [keys.index], [keys.itemPrefix, ...members]));
    },
  };
}
