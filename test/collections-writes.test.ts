/**
 * Revisions, conditional writes and atomic batches (issue 16, items 1–3), against a private redis-server, with
 * writers and subscribers in other processes.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import path from 'node:path';
import fc from 'fast-check';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { ChangeInfo, MemisClient } from '../index';
import type { WriteOperation } from '../lib/collections/codec';
import { storedItem } from './helpers/stored';
import { until } from './helpers/events';
import { RedisServer } from './helpers/redis-server';

describe('collection writes: revisions', () => {
  let srv: RedisServer;
  const clients: MemisClient[] = [];
  const client = (): MemisClient => {
    const c = Pack.createClient(srv.url, { syncInterval: 100 });
    clients.push(c);
    return c;
  };
  let raw: ReturnType<typeof createRedis>;

  before(async () => {
    srv = await RedisServer.start();
    raw = createRedis({ url: srv.url });
    raw.on('error', () => undefined);
    await raw.connect();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.quit()));
    raw.destroy();
    await srv.stop();
  });

  it('set resolves with the new revision; entry() and listeners see it; it grows with every write', async () => {
    const pub = client().database('rev').collection<{ n: number }>('c');
    const sub = client().database('rev').collection<{ n: number }>('c');
    const seen: Array<[string, string, number, ChangeInfo]> = [];
    sub.multi('set delete expire', (key, data, info) => seen.push([info.event, key, data.n, info]));
    await sub.subscribe();
    assert.equal(sub.entry('a'), undefined);
    const r1 = await pub.set('a', { n: 1 });
    assert.equal(typeof r1, 'number');
    // A revision is the write's stamp: Redis's clock in µs (this machine's clock here), a safe integer.
    assert.ok(Number.isSafeInteger(r1));
    assert.ok(Math.abs(r1 / 1000 - Date.now()) < 60_000, `${r1} is Redis's time in µs`);
    const r2 = await pub.set('a', { n: 2 }, 60);
    assert.ok(r2 > r1, `${r2} > ${r1}`);
    // The revision stored in Redis is the one set resolved with.
    assert.equal((await storedItem(raw, 'memis:{rev/c}:i:a'))?.rev, r2);
    await until(() => sub.get('a')?.n === 2, 'the second write');
    const e = sub.entry('a')!;
    assert.deepEqual(e.data, { n: 2 });
    assert.equal(e.revision, r2);
    const pttl = await raw.pTTL('memis:{rev/c}:i:a');
    assert.equal(typeof e.expiresAt, 'number');
    // expiresAt: epoch ms on Redis's clock (the same machine's clock here), when the key's TTL runs out.
    assert.ok(Math.abs(e.expiresAt! - (Date.now() + pttl)) < 2000, `${e.expiresAt} vs ${Date.now() + pttl}`);
    const r3 = await pub.set('b', { n: 3 });
    await until(() => sub.entry('b') !== undefined, 'b');
    assert.equal(sub.entry('b')!.expiresAt, null);
    assert.equal(sub.entry('b')!.revision, r3);
    assert.equal(await pub.del('a'), true);
    await until(() => sub.entry('a') === undefined, 'the delete');
    assert.deepEqual(
      seen.map(([ev, key, n, info]) => [ev, key, n, info.revision]),
      [
        ['set', 'a', 1, r1],
        ['set', 'a', 2, r2],
        ['set', 'b', 3, r3],
        ['delete', 'a', 2, r2], // the revision of the last copy held, like `data`
      ],
    );
  });

  it('a late joiner loads the revisions stored in Redis', async () => {
    const pub = client().database('rev').collection<{ n: number }>('late');
    const r = await pub.set('x', { n: 1 });
    const late = client().database('rev').collection<{ n: number }>('late');
    const infos: ChangeInfo[] = [];
    late.on('set', (_k, _d, info) => infos.push(info));
    await late.subscribe();
    assert.equal(late.entry('x')!.revision, r);
    assert.deepEqual(
      infos.map((i) => i.revision),
      [r],
    );
  });
});

/** A child process of test/helpers/writes-child.ts, with a way to wait for its messages. */
function child(args: string[]) {
  const proc = fork(path.join(__dirname, 'helpers', 'writes-child.ts'), args, {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const waiting: Array<[(m: Record<string, unknown>) => boolean, (m: Record<string, unknown>) => void]> = [];
  proc.on('message', (m: Record<string, unknown>) => {
    const i = waiting.findIndex(([p]) => p(m));
    if (i >= 0) waiting.splice(i, 1)[0]![1](m);
  });
  const next = (key: string) =>
    new Promise<Record<string, unknown>>((resolve) => waiting.push([(m) => m[key] === true, resolve]));
  const stop = () =>
    new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.send({ cmd: 'stop' });
    });
  return { proc, next, stop };
}

describe('collection writes: conditions and batches', function () {
  this.timeout(120000);
  let srv: RedisServer;
  const clients: MemisClient[] = [];
  const client = (): MemisClient => {
    const c = Pack.createClient(srv.url, { syncInterval: 100 });
    clients.push(c);
    return c;
  };
  let raw: ReturnType<typeof createRedis>;

  before(async () => {
    srv = await RedisServer.start();
    raw = createRedis({ url: srv.url });
    raw.on('error', () => undefined);
    await raw.connect();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.quit()));
    raw.destroy();
    await srv.stop();
  });

  /** The rejection of a promise that must reject. */
  async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; revision?: number; key?: string }> {
    try {
      await p;
    } catch (err) {
      return err as Error & { code?: string; revision?: number; key?: string };
    }
    throw new Error('expected a rejection');
  }

  it('set with ifRevision writes only over that revision; 0 means "only if absent"; a conflict writes nothing', async () => {
    const c = client().database('cond').collection<{ n: number }>('set');
    const r1 = await c.set('a', { n: 1 }, { ifRevision: 0 });
    const e0 = await rejection(c.set('a', { n: 9 }, { ifRevision: 0 }));
    assert.equal(e0.code, 'E_CONFLICT');
    assert.equal(e0.revision, r1);
    assert.equal(e0.key, 'a');
    assert.match(e0.message, /"a".*revision/);
    const r2 = await c.set('a', { n: 2 }, { ifRevision: r1, ttl: 60 });
    assert.ok(r2 > r1);
    assert.ok((await raw.pTTL('memis:{cond/set}:i:a')) > 0);
    const [seqBefore] = await raw.hmGet('memis:{cond/set}:meta', ['seq']);
    const e1 = await rejection(c.set('a', { n: 3 }, { ifRevision: r1 }));
    assert.equal(e1.code, 'E_CONFLICT');
    assert.equal(e1.revision, r2);
    // Nothing written: the item, the sequence number and the log are as they were.
    assert.deepEqual((await storedItem(raw, 'memis:{cond/set}:i:a'))?.data, { n: 2 });
    assert.deepEqual(await raw.hmGet('memis:{cond/set}:meta', ['seq']), [seqBefore]);
    assert.equal(await raw.xLen('memis:{cond/set}:log'), 2);
    const e2 = await rejection(c.set('absent', { n: 1 }, { ifRevision: 5 }));
    assert.equal(e2.code, 'E_CONFLICT');
    assert.equal(e2.revision, 0);
    assert.equal(await raw.exists('memis:{cond/set}:i:absent'), 0);
    // The plain forms stay.
    assert.equal(typeof (await c.set('b', { n: 1 }, 60)), 'number');
    assert.equal(typeof (await c.set('b', { n: 1 })), 'number');
  });

  it('del with ifRevision deletes only that revision; refused options name the key and option', async () => {
    const c = client().database('cond').collection<{ n: number }>('del');
    const r1 = await c.set('a', { n: 1 });
    const e = await rejection(c.del('a', { ifRevision: r1 - 1 }));
    assert.equal(e.code, 'E_CONFLICT');
    assert.equal(e.revision, r1);
    assert.equal(await raw.exists('memis:{cond/del}:i:a'), 1);
    assert.equal(await c.del('a', { ifRevision: r1 }), true);
    assert.equal(await raw.exists('memis:{cond/del}:i:a'), 0);
    assert.equal(await c.del('a', { ifRevision: 0 }), false); // absent, as asked
    const e3 = await rejection(c.del('a', { ifRevision: 3 }));
    assert.equal(e3.revision, 0);
    for (const [p, named] of [
      [c.set('k', { n: 1 }, { ifRevision: -1 }), /"k".*ifRevision/],
      [c.set('k', { n: 1 }, { ifRevision: 1.5 }), /ifRevision/],
      [c.set('k', { n: 1 }, { ifRevision: '3' } as unknown as { ifRevision: number }), /ifRevision/],
      [c.set('k', { n: 1 }, { ttl: 1, ifRevison: 1 } as unknown as { ttl: number }), /"k".*`ifRevison`/],
      [c.set('k', { n: 1 }, { ttl: -1 }), /"k".*ttl/],
      [c.del('k', { ttl: 1 } as unknown as { ifRevision: number }), /"k".*`ttl`/],
    ] as const) {
      const err = await rejection(p);
      assert.equal(err.code, 'E_INVALID_INPUT');
      assert.match(err.message, named);
    }
    assert.equal(await raw.exists('memis:{cond/del}:i:k'), 0);
  });

  it('machines: setItem and deleteItem exit `conflict` with the current revision', async () => {
    const { manager } = await Pack.promises.createManager({ connectionString: srv.url });
    const { connection } = await Pack.promises.getConnection({ manager });
    const at = { connection, database: 'cond', collection: 'machines' };
    const { revision: seq } = await Pack.promises.setItem({ ...at, key: 'x', data: { a: 1 }, ifRevision: 0 });
    const outcome = await new Promise<[string, unknown]>((resolve) => {
      Pack.setItem({ ...at, key: 'x', data: { a: 2 }, ifRevision: seq + 1 }).switch({
        error: (err) => resolve(['error', err]),
        conflict: (out) => resolve(['conflict', out]),
        success: (out) => resolve(['success', out]),
      });
    });
    assert.deepEqual(outcome, ['conflict', { revision: seq }]);
    const err = await rejection(Pack.promises.deleteItem({ ...at, key: 'x', ifRevision: seq + 5 }));
    assert.equal((err as unknown as { exit: string }).exit, 'conflict');
    assert.deepEqual((err as unknown as { raw: unknown }).raw, { revision: seq });
    assert.deepEqual(await Pack.promises.deleteItem({ ...at, key: 'x', ifRevision: seq }), { deleted: true });
    await Pack.promises.destroyManager({ manager });
  });

  it('several processes doing read-modify-write with ifRevision on one counter lose no increment', async () => {
    const PROCS = 6;
    const EACH = 40;
    const seed = client().database('writes').collection<{ n: number }>('counter');
    await seed.set('counter', { n: 0 });
    const procs = Array.from({ length: PROCS }, () => child(['increment', srv.url, 'counter', String(EACH)]));
    try {
      await Promise.all(procs.map((p) => p.next('ready')));
      const done = procs.map((p) => p.next('done'));
      for (const p of procs) p.proc.send({ cmd: 'go' });
      const reports = await Promise.all(done);
      for (const r of reports) assert.equal(r.error, undefined, String(r.error));
      const stored = (await storedItem(raw, 'memis:{writes/counter}:i:counter'))!.data as { n: number };
      assert.equal(stored.n, PROCS * EACH);
      const conflicts = reports.reduce((sum, r) => sum + Number(r.conflicts), 0);
      assert.ok(conflicts > 0, 'the processes did contend (else the test proves nothing)');
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
    }
  });

  const cleanups: Array<() => void> = [];
  afterEach(() => cleanups.splice(0).forEach((f) => f()));

  it('a batch applies every operation as one write: revisions in order, one log entry, one notification', async () => {
    const pub = client().database('batch').collection<{ round: number }>('one');
    const sub = client().database('batch').collection<{ round: number }>('one');
    const rc = await pub.set('c', { round: 0 });
    const seen: string[] = [];
    sub.multi('set delete', (key, data, info) => {
      // By the time a listener hears of one operation, the copy holds the whole batch.
      seen.push(
        `${info.event}:${key}:${data.round}:${String(sub.get('a')?.round)}/${String(sub.get('b')?.round)}/${String(sub.get('c')?.round)}`,
      );
    });
    await sub.subscribe();
    seen.length = 0;
    const channelMessages: string[] = [];
    const listener = raw.duplicate();
    listener.on('error', () => undefined);
    await listener.connect();
    cleanups.push(() => listener.destroy());
    await listener.subscribe('memis:{batch/one}:ch', (m) => channelMessages.push(m));
    const logBefore = await raw.xLen('memis:{batch/one}:log');
    const revisions = await pub
      .batch()
      .set('a', { round: 1 })
      .set('b', { round: 1 }, { ttl: 60, ifRevision: 0 })
      .del('c', { ifRevision: rc })
      .exec();
    assert.equal(revisions.length, 3);
    assert.ok(revisions[0]! > rc);
    assert.equal(revisions[1], revisions[0]);
    assert.equal(revisions[2], 0);
    await until(() => seen.length === 3, 'three events');
    assert.deepEqual(seen, ['set:a:1:1/1/undefined', 'set:b:1:1/1/undefined', 'delete:c:0:1/1/undefined']);
    assert.equal(sub.entry('a')!.revision, revisions[0]);
    assert.equal(typeof sub.entry('b')!.expiresAt, 'number');
    assert.equal(await raw.xLen('memis:{batch/one}:log'), logBefore + 1);
    await until(() => channelMessages.length === 1, 'the notification');
    assert.equal(channelMessages[0]!.split('\n').length, 4 + 3 * 4);
    // The stored items carry the batch's revision.
    assert.equal((await storedItem(raw, 'memis:{batch/one}:i:a'))?.rev, revisions[0]);
    assert.equal((await storedItem(raw, 'memis:{batch/one}:i:b'))?.rev, revisions[0]);
    assert.equal(await raw.exists('memis:{batch/one}:i:c'), 0);
    assert.deepEqual(await raw.sMembers('memis:{batch/one}:keys').then((m) => m.sort()), ['a', 'b']);
  });

  it('a batch whose condition fails writes nothing and names the key; bad input is refused before sending', async () => {
    const c = client().database('batch').collection<{ n: number }>('refused');
    const ra = await c.set('a', { n: 1 });
    const state = async () => [
      await raw.hGetAll('memis:{batch/refused}:meta'),
      await raw.xLen('memis:{batch/refused}:log'),
      (await raw.keys('memis:{batch/refused}:*')).sort(),
      await raw.get('memis:{batch/refused}:i:a'),
    ];
    const before = await state();
    const e = await rejection(
      c
        .batch()
        .set('new', { n: 1 })
        .set('a', { n: 2 }, { ifRevision: ra + 1 })
        .del('b', { ifRevision: 0 })
        .exec(),
    );
    assert.equal(e.code, 'E_CONFLICT');
    assert.equal(e.key, 'a');
    assert.equal(e.revision, ra);
    assert.match(e.message, /"a"/);
    const e2 = await rejection(c.batch().set('x', { n: 1 }).del('a', { ifRevision: 0 }).exec());
    assert.equal(e2.code, 'E_CONFLICT');
    assert.equal(e2.key, 'a');
    for (const [batch, named] of [
      [
        c
          .batch()
          .set('ok', { n: 1 })
          .set('bad', { n: undefined } as unknown as { n: number }),
        /"bad".*"n"/,
      ],
      [
        c
          .batch()
          .set('ok', { n: 1 })
          .set('bad', [1] as unknown as { n: number }),
        /"bad".*plain objects/,
      ],
      [c.batch().set('dup', { n: 1 }).del('dup'), /"dup".*twice/],
      [c.batch().set('k', { n: 1 }, { ifRevision: -2 }), /"k".*ifRevision/],
      [c.batch().set('k', { n: 1 }, { tll: 3 } as unknown as { ttl: number }), /"k".*`tll`/],
      [c.batch().del(''), /item key/],
      [Array.from({ length: 1001 }, (_, i) => i).reduce((b, i) => b.set(`k${i}`, { n: i }), c.batch()), /at most 1000/],
    ] as const) {
      const err = await rejection(batch.exec());
      assert.equal(err.code, 'E_INVALID_INPUT', err.message);
      assert.match(err.message, named);
    }
    assert.deepEqual(await state(), before);
    assert.deepEqual(await c.batch().exec(), []);
    const once = c.batch().set('z', { n: 1 });
    await once.exec();
    assert.equal((await rejection(once.exec())).code, 'E_INVALID_INPUT');
  });

  it('refuses a write over 4 MiB of JSON before sending: no subscriber is disconnected by a huge notification', async () => {
    const c = client().database('batch').collection<{ big: string; i?: number }>('huge');
    const listener = client().database('batch').collection<{ big: string; i?: number }>('huge');
    await listener.subscribe();
    const stats = async () =>
      Number(/client_output_buffer_limit_disconnections:(\d+)/.exec(await raw.info('stats'))?.[1]);
    const disconnectionsBefore = await stats();
    // 1,000 × 34 KB: a legal number of operations, but one ~34 MB notification (over the 32 MB hard limit).
    const big = 'x'.repeat(34 * 1024);
    const batch = Array.from({ length: 1000 }, (_, i) => i).reduce((b, i) => b.set(`k${i}`, { big, i }), c.batch());
    const e = await rejection(batch.exec());
    assert.equal(e.code, 'E_INVALID_INPUT', e.message);
    assert.match(
      e.message,
      /batch is over 4194304 bytes .*operation \d+ \("k\d+"\).*client-output-buffer-limit pubsub/,
    );
    const e2 = await rejection(c.set('one', { big: 'é'.repeat(2.5 * 1024 * 1024) }));
    assert.equal(e2.code, 'E_INVALID_INPUT', e2.message);
    assert.match(e2.message, /Item "one": its JSON is \d+ bytes; an item takes at most 4194304/);
    assert.equal(await raw.exists('memis:{batch/huge}:meta'), 0, 'nothing written');
    // Just under the cap: written, and the subscriber gets it.
    const fits = 'y'.repeat(40000);
    const revisions = await Array.from({ length: 100 }, (_, i) => i)
      .reduce((b, i) => b.set(`f${i}`, { big: fits, i }), c.batch())
      .exec();
    await c.set('single', { big: 'z'.repeat(4 * 1024 * 1024 - 20) });
    await until(
      () => listener.get('single') !== undefined && listener.get('f99')?.i === 99,
      'the subscriber to get both',
    );
    assert.equal(listener.entry('f0')?.revision, revisions[0]);
    // On a loaded machine a check can be late while 8 MB go by ('stale' for a moment): it must come back 'live'.
    await until(() => listener.status === 'live', 'the subscriber to be live');
    assert.equal(await stats(), disconnectionsBefore, 'no subscriber was disconnected');
  });

  it("a single set or delete has the batch's cap: at most 4 MiB of key and JSON, huge keys included, named short", async () => {
    const c = client().database('batch').collection<{ big?: string; n?: number }>('huge-keys');
    const listener = client().database('batch').collection<{ big?: string; n?: number }>('huge-keys');
    await listener.subscribe();
    const MiB = 1024 * 1024;
    const hugeKey = 'k'.repeat(5 * MiB);
    const halfKey = 'h'.repeat(3 * MiB);
    const { manager } = await Pack.promises.createManager({ connectionString: srv.url });
    const { connection } = await Pack.promises.getConnection({ manager });
    const where = { connection, database: 'batch', collection: 'huge-keys' };
    try {
      const cases: Array<[string, () => Promise<unknown>]> = [
        ['set, 5 MiB key', () => c.set(hugeKey, { n: 1 })],
        ['set, 3 MiB key + 3 MiB item', () => c.set(halfKey, { big: 'x'.repeat(3 * MiB) })],
        ['del, 5 MiB key', () => c.del(hugeKey)],
        ['batch, 5 MiB key', () => c.batch().set(hugeKey, { n: 1 }).exec()],
        ['setItem, 5 MiB key', () => Pack.promises.setItem({ ...where, key: hugeKey, data: { n: 1 } })],
        [
          'setItem, 3 MiB key + 3 MiB item',
          () => Pack.promises.setItem({ ...where, key: halfKey, data: { big: 'x'.repeat(3 * MiB) } }),
        ],
        ['deleteItem, 5 MiB key', () => Pack.promises.deleteItem({ ...where, key: hugeKey })],
      ];
      for (const [name, write] of cases) {
        const e = await rejection(write());
        const code = e.code === 'E_INVALID_INPUT' ? e.code : ((e as { raw?: { code?: string } }).raw?.code ?? e.code);
        assert.equal(code, 'E_INVALID_INPUT', `${name}: ${e.message.slice(0, 300)}`);
        assert.match(e.message, /4194304 bytes/, `${name}: the limit is named: ${e.message.slice(0, 300)}`);
        assert.match(e.message, /"(kkkk|hhhh)[kh]*…" \(\d+ characters\)/, `${name}: the key is named, shortened`);
        assert.ok(e.message.length < 1000, `${name}: the message is ${e.message.length} characters`);
      }
      // Bytes, not UTF-16 units: 1,000 items of 4,000 'é' are about 8 MB of UTF-8 (4 MB of units).
      const accents = 'é'.repeat(4000);
      const e = await rejection(
        Array.from({ length: 1000 }, (_, i) => i)
          .reduce((b, i) => b.set(`e${i}`, { big: accents }), c.batch())
          .exec(),
      );
      assert.equal(e.code, 'E_INVALID_INPUT', e.message);
      assert.match(e.message, /batch is over 4194304 bytes/);
      assert.equal(await raw.exists('memis:{batch/huge-keys}:meta'), 0, 'nothing written');
      // Just under the cap: a 2 MiB key with a 1 MiB item is written and reaches the subscriber.
      const bigKey = 'b'.repeat(2 * MiB);
      await c.set(bigKey, { big: 'y'.repeat(MiB) });
      await until(() => listener.get(bigKey) !== undefined, 'the subscriber to get it');
      assert.equal(await c.del(bigKey), true);
    } finally {
      await Pack.promises.destroyManager({ manager });
    }
  });

  it('refuses holes and throwing getters in operations, options and items with E_INVALID_INPUT naming the key', async () => {
    const c = client().database('batch').collection<{ n: number }>('hostile');
    const throwing = (name: string) =>
      Object.defineProperty({}, name, {
        enumerable: true,
        get() {
          throw new Error('getter boom');
        },
      });
    const cases: Array<[string, Promise<unknown>, RegExp]> = [
      [
        'set options',
        c.set('a', { n: 1 }, throwing('ttl')),
        /Item "a": reading the option `ttl` of set threw \(getter boom\)/,
      ],
      ['del options', c.del('b', throwing('ifRevision')), /Item "b": reading the option `ifRevision`.*getter boom/],
      [
        'batch set options',
        c.batch().set('c', { n: 1 }, throwing('ifRevision')).exec(),
        /Item "c".*`ifRevision`.*getter boom/,
      ],
      ['batch del options', c.batch().del('d', throwing('ifRevision')).exec(), /Item "d".*`ifRevision`.*getter boom/],
      [
        'an item field',
        c.set('e', throwing('n') as { n: number }),
        /Item "e", field "n": reading it threw \(getter boom\)/,
      ],
      [
        'a batch item field',
        c
          .batch()
          .set('f', throwing('n') as { n: number })
          .exec(),
        /Item "f", field "n".*getter boom/,
      ],
    ];
    for (const [what, p, message] of cases) {
      const e = await rejection(p);
      assert.equal(e.code, 'E_INVALID_INPUT', `${what}: ${e.message}`);
      assert.match(e.message, message, what);
    }
    const { manager } = await Pack.promises.createManager({ connectionString: srv.url });
    try {
      const { connection } = await Pack.promises.getConnection({ manager });
      const at = { connection, database: 'batch', collection: 'hostile' };
      // eslint-disable-next-line no-sparse-arrays
      const sparse = [, { op: 'set', key: 'g', data: { n: 1 } }] as unknown as WriteOperation[];
      const operationGetter = [
        Object.defineProperty({ op: 'set', data: { n: 1 } }, 'key', {
          enumerable: true,
          get: () => {
            throw new Error('getter boom');
          },
        }),
      ];
      for (const [operations, message] of [
        [sparse, /Operation 1 of the batch is missing \(a hole in the array\)/],
        [operationGetter, /Operation 1 of the batch: reading it threw \(getter boom\)/],
      ] as const) {
        const e = await rejection(Pack.promises.writeItems({ ...at, operations: operations as WriteOperation[] }));
        assert.equal(e.code, 'E_INVALID_INPUT', e.message);
        assert.match(e.message, message);
      }
    } finally {
      await Pack.promises.destroyManager({ manager });
    }
    assert.equal(await raw.exists('memis:{batch/hostile}:meta'), 0, 'nothing written');
  });

  it('the writeItems machine: success with revisions, conflict with key, index and revision', async () => {
    const { manager } = await Pack.promises.createManager({ connectionString: srv.url });
    const { connection } = await Pack.promises.getConnection({ manager });
    const at = { connection, database: 'batch', collection: 'machine' };
    const ok = await Pack.promises.writeItems({
      ...at,
      operations: [
        { op: 'set', key: 'a', data: { x: 1 } },
        { op: 'delete', key: 'nothing' },
      ],
    });
    assert.equal(ok.revisions.length, 2);
    assert.ok(ok.revisions[0]! > ok.seq, 'a revision is a stamp, not the sequence number');
    assert.equal(ok.revisions[1], 0);
    const out = await new Promise<unknown>((resolve) => {
      Pack.writeItems({
        ...at,
        operations: [
          { op: 'delete', key: 'nothing', ifRevision: 0 },
          { op: 'set', key: 'a', data: { x: 2 }, ifRevision: 0 },
        ],
      }).switch({ error: resolve, conflict: (o) => resolve(o), success: resolve });
    });
    assert.deepEqual(out, { key: 'a', index: 1, revision: ok.revisions[0] });
    // A batch that changes nothing consumes no revision.
    assert.deepEqual(await Pack.promises.writeItems({ ...at, operations: [{ op: 'delete', key: 'nothing' }] }), {
      seq: 0,
      revisions: [0],
    });
    await Pack.promises.destroyManager({ manager });
  });

  it('subscribers in other processes apply each batch as one step, live and when catching up', async () => {
    const subs = [child(['subscriber', srv.url, 'torn']), child(['subscriber', srv.url, 'torn'])];
    try {
      await Promise.all(subs.map((s) => s.next('ready')));
      const c = client().database('writes').collection<{ round: number }>('torn');
      const ROUNDS = 120;
      for (let round = 1; round <= ROUNDS; round++) {
        const b = c.batch();
        for (let i = 0; i < 10; i++) b.set(`b${i}`, { round });
        await b.exec();
        // Now and then cut the subscribers' pub/sub connections: they catch up from the log; with the log emptied
        // first, they resync from a snapshot while batches keep coming.
        if (round % 20 === 10) await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        if (round % 20 === 15) {
          await raw.xTrim('memis:{writes/torn}:log', 'MAXLEN', 0);
          await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        }
      }
      const late = client().database('writes').collection<{ round: number }>('torn');
      await late.subscribe();
      assert.equal(late.get('b9')?.round, ROUNDS);
      for (const s of subs) {
        let report: Record<string, unknown> = {};
        await until(
          async () => {
            const next = s.next('report');
            s.proc.send({ cmd: 'report' });
            report = await next;
            return report.last === ROUNDS;
          },
          'the last batch reached the subscriber',
          20000,
        );
        assert.ok(Number(report.events) >= 10);
        assert.equal(report.tornCount, 0, JSON.stringify(report.torn));
      }
    } finally {
      await Promise.all(subs.map((s) => s.stop()));
    }
  });

  it('property: a random batch is applied whole or refused whole (conflict or bad input), never in part', async () => {
    const c = client().database('batch').collection<Record<string, unknown>>('prop');
    const KEYS = ['a', 'b', 'c', 'd'];
    /** Every item hash and the meta: what must not change when a batch is refused. */
    const state = async () => {
      const out: Record<string, unknown> = { meta: await raw.hGetAll('memis:{batch/prop}:meta') };
      for (const k of KEYS) out[k] = await raw.get(`memis:{batch/prop}:i:${k}`);
      return out;
    };
    const outcomes = { applied: 0, E_CONFLICT: 0, E_INVALID_INPUT: 0 };
    const revisionOf = async (k: string) => (await storedItem(raw, `memis:{batch/prop}:i:${k}`))?.rev ?? 0;
    const op = fc.record({
      del: fc.boolean(),
      key: fc.constantFrom(...KEYS),
      data: fc.oneof(
        fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
        fc.constantFrom<unknown>(null, [1], { f: undefined }, { f: () => 1 }),
      ),
      condition: fc.constantFrom('none', 'current', 'absent', 'wrong'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 5 }), async (ops) => {
        const before = await state();
        const b = c.batch();
        for (const o of ops) {
          const current = await revisionOf(o.key);
          const ifRevision =
            o.condition === 'none'
              ? undefined
              : o.condition === 'current'
                ? current
                : o.condition === 'absent'
                  ? 0
                  : current + 1000;
          const options = ifRevision === undefined ? undefined : { ifRevision };
          if (o.del) b.del(o.key, options);
          else b.set(o.key, o.data as Record<string, unknown>, options);
        }
        try {
          const revisions = await b.exec();
          assert.equal(revisions.length, ops.length);
          outcomes.applied++;
          for (const [i, o] of ops.entries()) {
            const stored = await storedItem(raw, `memis:{batch/prop}:i:${o.key}`);
            if (o.del) {
              assert.equal(stored, undefined);
              assert.equal(revisions[i], 0);
            } else {
              assert.deepEqual(stored?.data, JSON.parse(JSON.stringify(o.data)));
              assert.equal(await revisionOf(o.key), revisions[i]);
            }
          }
        } catch (err) {
          const code = (err as { code?: string }).code;
          assert.ok(code === 'E_CONFLICT' || code === 'E_INVALID_INPUT', (err as Error).message);
          outcomes[code]++;
          assert.deepEqual(await state(), before, 'a refused batch changed nothing');
        }
      }),
      { numRuns: 150 },
    );
    // Each outcome was met, so the property was tested on all three.
    for (const [outcome, n] of Object.entries(outcomes)) assert.ok(n >= 3, `${outcome}: ${n}`);
  });
});

describe('collection writes: a revision is never handed out twice (issue 16, items 1–2)', function () {
  this.timeout(60000);
  const clients: MemisClient[] = [];
  const servers: RedisServer[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.quit()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  const setup = async () => {
    const srv = await RedisServer.start();
    servers.push(srv);
    const c = Pack.createClient(srv.url, { syncInterval: 100, connectTimeout: 1000 });
    c.on('error', () => undefined);
    clients.push(c);
    const raw = createRedis({ url: srv.url });
    raw.on('error', () => undefined);
    return { srv, items: c.database('aba').collection<{ owner: string }>('c'), raw };
  };
  /** A write retried until Redis answers (after a restart the connection comes back first). */
  const setAfterOutage = async (
    items: { set: (k: string, d: { owner: string }) => Promise<number> },
    owner: string,
  ) => {
    let revision = 0;
    await until(async () => {
      revision = await items.set('k', { owner }).catch(() => 0);
      return revision > 0;
    }, 'a write after the outage');
    return revision;
  };
  /** A writer holding a revision from before: its conditional write must conflict and write nothing. */
  const assertStale = async (
    items: { set: (k: string, d: { owner: string }, o: { ifRevision: number }) => Promise<number> },
    stale: number,
    current: number,
  ) => {
    await assert.rejects(
      items.set('k', { owner: 'stale' }, { ifRevision: stale }),
      (err: Error & { code?: string; revision?: number }) => {
        assert.equal(err.code, 'E_CONFLICT', err.message);
        assert.equal(err.revision, current);
        return true;
      },
    );
  };

  it('(a) after FLUSHALL the next write gets a larger revision, and a stale ifRevision conflicts', async () => {
    const { items, raw } = await setup();
    await raw.connect();
    const sub = clients[0]!.database('aba').collection<{ owner: string }>('c');
    await sub.subscribe();
    const stale = await items.set('k', { owner: 'A' });
    await raw.flushAll();
    const after = await items.set('k', { owner: 'B' });
    assert.ok(after > stale, `${after} > ${stale}`);
    await assertStale(items, stale, after);
    assert.deepEqual((await storedItem(raw, 'memis:{aba/c}:i:k'))?.data, { owner: 'B' });
    // The copy follows the new epoch with the same revision, and its stats agree.
    await until(() => sub.entry('k')?.data.owner === 'B', 'the copy');
    assert.equal(sub.entry('k')!.revision, after);
    assert.equal(sub.stats().revision, after);
    raw.destroy();
  });

  it('(b) after a restart with nothing persisted the next write gets a larger revision', async () => {
    const { srv, items } = await setup();
    const stale = await items.set('k', { owner: 'A' });
    await srv.restart(); // SIGKILL, empty
    const after = await setAfterOutage(items, 'B');
    assert.ok(after > stale, `${after} > ${stale}`);
    await assertStale(items, stale, after);
  });

  it('(c) after a restart from an older snapshot no revision handed out since the snapshot comes back', async () => {
    const { srv, items, raw } = await setup();
    await raw.connect();
    const r1 = await items.set('k', { owner: 'A' });
    await raw.sendCommand(['SAVE']);
    raw.destroy();
    const r2 = await items.set('k', { owner: 'B' }); // lost with the restart
    const r3 = await items.set('k', { owner: 'C' });
    await srv.restart(); // SIGKILL, then dump.rdb: k is back at r1, the meta at the snapshot's sequence number
    // A writer that read k from the restored state (revision r1) may write it, and gets a new revision.
    let r4 = 0;
    await until(async () => {
      r4 = await items.set('k', { owner: 'D' }, { ifRevision: r1 }).catch(() => 0);
      return r4 > 0;
    }, 'a write after the restart');
    assert.ok(r4 > r3, `${r4} > ${r3}`);
    await assertStale(items, r2, r4);
    await assertStale(items, r3, r4);
  });

  it('(d) when the meta, log and key set are evicted but the item survives, its revision still grows', async () => {
    const { items, raw } = await setup();
    await raw.connect();
    for (let i = 0; i < 4; i++) await items.set(`other${i}`, { owner: 'X' });
    const stale = await items.set('k', { owner: 'A' });
    await raw.del(['memis:{aba/c}:meta', 'memis:{aba/c}:log', 'memis:{aba/c}:keys']);
    const revisions: number[] = [];
    for (let i = 0; i < 5; i++) revisions.push(await items.set('k', { owner: `B${i}` }));
    let previous = stale;
    for (const r of revisions) {
      assert.ok(r > previous, `${r} > ${previous}: ${JSON.stringify([stale, ...revisions])}`);
      previous = r;
    }
    await assertStale(items, stale, previous);
    // An item written before revisions were stamps (only `m:seq`): its revision is that, and the next write's is larger.
    await raw.hSet('memis:{aba/c}:i:old', { v: '{"owner":"old"}', 'm:seq': String(previous + 10_000_000) });
    const legacy = previous + 10_000_000;
    await assert.rejects(items.set('old', { owner: 'x' }, { ifRevision: 1 }), (err: { revision?: number }) => {
      assert.equal(err.revision, legacy);
      return true;
    });
    const next = await items.set('old', { owner: 'y' }, { ifRevision: legacy });
    assert.ok(next > legacy, `${next} > ${legacy}`);
    raw.destroy();
  });
});
