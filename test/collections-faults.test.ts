/**
 * The replication protocol under the faults of issue 10, one test per case, against private redis-servers (and the
 * fault-injecting proxy where a fault needs one). Each failed on the first protocol.
 */
import assert from 'node:assert/strict';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { Collection, MemisClient } from '../index';
import type { FacadeCollection } from '../lib/facade';
import { storedItem } from './helpers/stored';
import { record, sleep, until } from './helpers/events';
import { FaultProxy } from './helpers/proxy';
import { freePort, RedisServer } from './helpers/redis-server';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Raw = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCollection = Collection<any>;

/** What Redis holds for a collection: key → item, sorted by key (as JSON, to compare). */
async function truth(raw: Raw, db: string, col: string): Promise<string> {
  const prefix = `memis:{${db}/${col}}:`;
  const out: Record<string, unknown> = {};
  for (const m of (await raw.sMembers(`${prefix}keys`)).sort()) {
    const item = await storedItem(raw, `${prefix}i:${m}`);
    if (item) out[decodeURIComponent(m)] = item.data;
  }
  return JSON.stringify(out);
}
function copy(c: AnyCollection): string {
  return JSON.stringify(
    Object.fromEntries(
      c
        .keys()
        .sort()
        .map((k) => [k, c.get(k)]),
    ),
  );
}
async function converged(raw: Raw, c: AnyCollection, what: string, ms = 15000): Promise<void> {
  let expected = '';
  await until(
    async () => copy(c) === (expected = await truth(raw, c.database, c.name)),
    `${what}: ${copy(c)} → ${expected}`,
    ms,
  );
}
async function rawClient(url: string): Promise<Raw> {
  const r = createRedis({ url });
  r.on('error', () => undefined);
  await r.connect();
  return r;
}
async function retry<T>(f: () => Promise<T>, what: string): Promise<T> {
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(100);
    }
  }
}

describe('replicated collections under faults (issue 10)', function () {
  this.timeout(60000);
  const clients: MemisClient[] = [];
  const raws: Raw[] = [];
  const mk = (url: string, options: Record<string, unknown> = {}) => {
    const c = Pack.createClient(url, { syncInterval: 100, connectTimeout: 1000, ...options });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  const raw = async (url: string) => {
    const r = await rawClient(url);
    raws.push(r);
    return r;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => undefined)));
    for (const r of raws.splice(0)) r.destroy();
  });

  it('1. Redis restarted from an older snapshot: copies and late joiners converge to what it holds', async () => {
    const own = await RedisServer.start();
    const pub = mk(own.url).database('d').collection('c');
    const sub = mk(own.url).database('d').collection('c');
    await sub.subscribe();
    await pub.set('a', { v: 1 });
    await pub.set('b', { v: 1 });
    let r = await raw(own.url);
    await r.sendCommand(['SAVE']);
    await pub.set('c', { v: 1 });
    await pub.set('a', { v: 2 });
    await until(() => sub.get('c') !== undefined && (sub.get('a') as { v: number }).v === 2, 'the later writes');
    await own.restart(); // SIGKILL, then start from the dump.rdb of the SAVE: c and a=2 are lost, seq is back at 2
    r = await raw(own.url);
    for (const k of ['d', 'e', 'f']) await retry(() => pub.set(k, { v: 1 }), `set ${k}`); // seqs 3…5 again
    await converged(r, sub, 'the copy');
    assert.equal(sub.get('c'), undefined);
    assert.deepEqual(sub.get('a'), { v: 1 });
    const late = mk(own.url).database('d').collection('c');
    await late.subscribe();
    assert.equal(copy(late), copy(sub));
    await own.stop();
  });

  it('2. malformed messages on the channel: no crash, counted, reported, the copy keeps converging', async () => {
    const own = await RedisServer.start();
    const pub = mk(own.url).database('d').collection('c');
    const subClient = mk(own.url);
    const errors: Error[] = [];
    subClient.on('error', (e) => errors.push(e));
    const sub = subClient.database('d').collection('c');
    await sub.subscribe();
    await pub.set('a', { v: 1 });
    await until(() => sub.size === 1, 'the first item');
    const r = await raw(own.url);
    const [seq, epoch, t] = await r.hmGet('memis:{d/c}:meta', ['seq', 'epoch', 't']);
    const s = Number(seq);
    const ch = 'memis:{d/c}:ch';
    // The first protocol's crash: a gap starts a catch-up, and a bad payload buffered meanwhile threw from it.
    await r.publish(ch, `${s + 2}\n${epoch}\ns\nx\n0\n{}`);
    await r.publish(ch, `${s + 1}\n${epoch}\ns\ny\n0\n{bad json`);
    for (const bad of [
      `${s + 1}\n${epoch}\n${Number(t) + 1}\n${t}\ns\ny\n0\n{bad json`,
      `${s + 1}\n${epoch}\n${Number(t) + 1}\n${t}\ns\n%E0%A4%A\n0\n{}`,
      `${s + 1}\n${epoch}\n${Number(t) + 1}\n${t}\ns\nk\n99999999999999999999\n{}`,
      'x'.repeat(100000),
      '\n\n\n\n\n\n\n',
    ])
      await r.publish(ch, bad);
    await pub.set('b', { v: 2 });
    await converged(r, sub, 'the copy after bad messages');
    await until(() => errors.some((e) => (e as { code?: string }).code === 'E_BAD_NOTIFICATION'), 'a report');
    assert.ok((sub as FacadeCollection).replica!.stats().rejectedMessages >= 5);
    await own.stop();
  });

  it('3. a notification the log cannot explain does not start an endless catch-up loop', async () => {
    const own = await RedisServer.start();
    const pub = mk(own.url).database('d').collection('c');
    const sub = mk(own.url).database('d').collection('c');
    await sub.subscribe();
    await pub.set('a', { v: 1 });
    await until(() => sub.size === 1, 'the first item');
    const r = await raw(own.url);
    const [seq, epoch, t] = await r.hmGet('memis:{d/c}:meta', ['seq', 'epoch', 't']);
    // Beyond the log, and of an old epoch.
    await r.publish('memis:{d/c}:ch', `${Number(seq) + 50}\n${epoch}\n${Number(t) + 9}\n${t}\ns\nz\n0\n{}`);
    await r.publish('memis:{d/c}:ch', `${Number(seq) + 1}\nOLDEPOCH\n${Number(t) + 9}\n${t}\ns\nz\n0\n{}`);
    await sleep(300);
    const commands = async () =>
      Number(/total_commands_processed:(\d+)/.exec(await r.info('stats'))![1]) - 1; /* this INFO */
    const before = await commands();
    await sleep(1000);
    const spent = (await commands()) - before;
    // Polling every 100 ms is ~10 MULTIs of 5 commands a second; the first protocol spent 10,000+ XRANGEs.
    assert.ok(spent < 200, `commands in one second from one idle subscriber: ${spent}`);
    await pub.set('b', { v: 2 });
    await converged(r, sub, 'the copy');
    await own.stop();
  });

  it('4. an evicted meta (allkeys-lru) and a huge TTL: writes are whole or refused before writing', async () => {
    const own = await RedisServer.start({ args: ['--maxmemory', '6mb', '--maxmemory-policy', 'allkeys-lru'] });
    const r = await raw(own.url);
    const conn = mk(own.url);
    const pub = conn.database('d').collection('c');
    const sub = mk(own.url).database('d').collection('c');
    await sub.subscribe();
    // Evict the meta but keep the log: fill memory while touching the log (LRU is approximate: try again when
    // both went).
    const filler = 'f'.repeat(50_000);
    let n = 0;
    for (let attempt = 0; ; attempt++) {
      assert.ok(attempt < 20, 'an eviction that took the meta and left the log');
      for (let i = 0; i < 20; i++) await pub.set(`k${i}`, { i });
      while ((await r.exists('memis:{d/c}:meta')) === 1) {
        await r.set(`filler:${n++}`, filler);
        await r.xLen('memis:{d/c}:log');
      }
      if ((await r.exists('memis:{d/c}:log')) === 1) break;
    }
    // Free the memory again, so eviction stops here: what follows checks the write after it, not more eviction
    // (which could take the new log entry before it is read).
    for (let i = 0; i < n; i += 500)
      await r.del(Array.from({ length: Math.min(500, n - i) }, (_, j) => `filler:${i + j}`));
    const oldTop = Number((await r.xRevRange('memis:{d/c}:log', '+', '-', { COUNT: 1 }))[0]!.id.split('-')[0]);
    // The first protocol restarted seq at 1 here: XADD "equal or smaller" failed after the item was written.
    await pub.set('after', { v: 1 });
    const [seq, epoch] = await r.hmGet('memis:{d/c}:meta', ['seq', 'epoch']);
    assert.ok(Number(seq) > oldTop && epoch, `meta ${seq} ${epoch} after a log topped at ${oldTop}`);
    assert.equal(String((await storedItem(r, 'memis:{d/c}:i:after'))?.seq), seq);
    assert.equal((await r.xRange('memis:{d/c}:log', `${seq}-0`, `${seq}-0`)).length, 1);
    assert.equal((await r.xRange('memis:{d/c}:log', '-', `${oldTop}-0`)).length, 0, "the lost epoch's log is gone");
    // Items themselves may be evicted too (documented: they stay in copies until the next full resync), so the
    // copy is checked for the write after the new epoch, not for equality.
    await until(() => sub.get('after') !== undefined, 'the write after the eviction reaching the copy');
    await assert.rejects(pub.set('huge', { v: 1 }, 1e14), /ttl must be a positive number of seconds, at most/);
    assert.equal(await r.exists('memis:{d/c}:i:huge'), 0);
    assert.equal(await r.hGet('memis:{d/c}:meta', 'seq'), seq, 'nothing counted');
    await own.stop();
  });

  it('5. unsubscribe then subscribe during the first load: one copy, every event once, none after unsubscribe', async () => {
    const own = await RedisServer.start();
    const pub = mk(own.url).database('d').collection('c');
    for (let i = 0; i < 300; i++) await pub.set(`k${i}`, { i });
    const sub = mk(own.url).database('d').collection('c');
    const log = record(sub);
    const first = sub.subscribe();
    const unsubscribed = sub.unsubscribe();
    const second = sub.subscribe();
    await assert.rejects(first, /ended before it was loaded/);
    await unsubscribed;
    await second;
    await pub.set('new', { v: 1 });
    await until(() => log.some((e) => e.key === 'new'), 'the new item');
    await pub.set('marker', {});
    await until(() => log.some((e) => e.key === 'marker'), 'the marker');
    const counts = new Map<string, number>();
    for (const e of log) counts.set(`${e.type}:${e.key}`, (counts.get(`${e.type}:${e.key}`) ?? 0) + 1);
    assert.deepEqual(
      [...counts].filter(([, n]) => n > 1),
      [],
      'no event twice',
    );
    assert.equal(counts.size, 302);
    await sub.unsubscribe();
    const seen = log.length;
    const other = mk(own.url).database('d').collection('c');
    await other.subscribe();
    await pub.set('after', { v: 1 });
    await until(() => other.get('after') !== undefined, 'another copy got it');
    await sleep(200);
    assert.equal(log.length, seen, 'no event after unsubscribe() resolved');
    await own.stop();
  });

  it('6. a black-holed command connection is reset; a subscriber-only client converges once it heals', async () => {
    const own = await RedisServer.start();
    const proxy = await FaultProxy.start({ target: own.port });
    const pub = mk(own.url).database('d').collection('c');
    const sub = mk(proxy.url, { commandTimeout: 500 }).database('d').collection('c');
    await sub.subscribe();
    await pub.set('first', { v: 0 });
    await until(() => sub.size === 1, 'the first item');
    proxy.blackHole();
    for (let i = 0; i < 20; i++) await pub.set(`k${i}`, { i });
    await sleep(700); // polls go out and vanish
    proxy.pass();
    const r = await raw(own.url);
    await converged(r, sub, 'the copy behind a healed black hole', 20000);
    assert.equal(sub.size, 21);
    await own.stop();
  });

  it('7. expiry is absolute: a late item is never announced; a late renewal gives no expire', async () => {
    const own = await RedisServer.start();
    const proxy = await FaultProxy.start({ target: own.port });
    const pub = mk(own.url).database('d').collection('c');
    const sub = mk(proxy.url).database('d').collection('c');
    const log = record(sub);
    await sub.subscribe();
    await pub.set('renewed', { v: 1 }, 0.6);
    await until(() => sub.size === 1, 'the item');
    proxy.stall(); // notifications and replies held…
    await pub.set('short', { v: 1 }, 0.3);
    await sleep(100);
    await pub.set('renewed', { v: 2 }, 60); // renewed before its deadline, the copy hears of it only later
    await sleep(900);
    proxy.pass(); // …and delivered late: `short` expired in transit, `renewed` lives on
    await pub.set('marker', {});
    await until(() => log.some((e) => e.key === 'marker'), 'the marker');
    await sleep(200);
    assert.deepEqual(
      log.filter((e) => e.key !== 'marker').map((e) => `${e.type}:${e.key}`),
      ['set:renewed', 'set:renewed'],
    );
    assert.deepEqual(sub.get('renewed'), { v: 2 });
    await own.stop();
  });

  it('8. timers past 2^31 ms: a 30-day TTL, syncInterval and retryDelay ≥ 2^31 do not spin', async () => {
    const own = await RedisServer.start();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const pub = mk(own.url).database('d').collection('c');
      const sub = mk(own.url, { syncInterval: 2 ** 31 + 1000, retryDelay: 2 ** 32 })
        .database('d')
        .collection('c');
      await sub.subscribe();
      await pub.set('month', { v: 1 }, 30 * 24 * 3600);
      await until(() => sub.size === 1, 'the item');
      await sleep(300);
      assert.deepEqual(
        warnings.filter((w) => w === 'TimeoutOverflowWarning'),
        [],
      );
      assert.deepEqual(sub.get('month'), { v: 1 });
    } finally {
      process.off('warning', onWarning);
    }
    await own.stop();
  });

  it('9. names that are not well-formed Unicode are usage errors naming them (collections and cache keys)', async () => {
    const own = await RedisServer.start();
    const c = mk(own.url);
    assert.throws(() => c.database('\uD800'), /database\(name\): the name "\\ud800" is not well-formed Unicode/);
    assert.throws(() => c.database('d').collection('x\uDC00'), /collection\(name\).*"x\\udc00"/);
    const col = c.database('d').collection('c');
    await assert.rejects(col.set('\uD800', { a: 1 }), /item key "\\ud800" is not well-formed/);
    await assert.rejects(col.set('k', { ['f\uDBFF']: 1 }), /field name "f\\udbff" is not well-formed/);
    const { manager } = await Pack.promises.createManager({ connectionString: own.url });
    const { connection } = await Pack.promises.getConnection({ manager });
    for (const key of ['\uD800', '\uDBFF', '\uDC00'])
      await assert.rejects(
        Pack.promises.cacheValue({ connection, key, value: 1 }),
        (e: Error) => /well-formed Unicode/.test(e.message) && e.message.includes(JSON.stringify(key)),
      );
    const r = await raw(own.url);
    assert.equal(await r.dbSize(), 0, 'nothing written');
    await Pack.promises.destroyManager({ manager });
    await own.stop();
  });

  it('10. set/del nobody awaits never crash the process: the error goes to the client’s error event', async () => {
    const c = Pack.createClient(`redis://127.0.0.1:${await freePort()}`, { connectTimeout: 300 });
    clients.push(c);
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    const col = c.database('d').collection('c');
    void col.set('k', { a: 1 });
    void col.del('k');
    void col.set('bad', 'not an object' as never);
    await until(() => errors.length >= 3, 'three error events');
    assert.ok(errors.some((e) => /Could not set "k"/.test(e.message)));
    assert.ok(errors.some((e) => /Could not delete "k"/.test(e.message)));
    assert.ok(errors.some((e) => /only plain objects/.test(e.message)));
    // A caller who awaits gets the rejection, and no error event.
    errors.length = 0;
    await assert.rejects(col.set('k', { a: 1 }), /Could not set "k"/);
    await assert.rejects(
      col.set('k', { a: 1 }).then(() => undefined),
      /Could not set "k"/,
    );
    await sleep(50);
    assert.deepEqual(errors, []);
  });

  it('11. the change log holds no payloads: 300 updates of a 50 KB item stay small in Redis', async () => {
    const own = await RedisServer.start();
    const pub = mk(own.url).database('d').collection('c');
    const big = { blob: 'x'.repeat(50_000) };
    for (let i = 0; i < 300; i++) await pub.set('hot', { ...big, i }, 3600);
    const r = await raw(own.url);
    const bytes = Number(await r.sendCommand(['MEMORY', 'USAGE', 'memis:{d/c}:log']));
    assert.ok(bytes < 100_000, `the log holds ${bytes} bytes (payloads would be 15 MB)`);
    const sub = mk(own.url).database('d').collection('c');
    await sub.subscribe();
    assert.equal((sub.get('hot') as { i: number }).i, 299);
    await own.stop();
  });

  it('12. a forged notification that takes the next seq does not hide the real write', async () => {
    const own = await RedisServer.start();
    const pub = mk(own.url).database('d').collection('c');
    const subClient = mk(own.url);
    const errors: Error[] = [];
    subClient.on('error', (e) => errors.push(e));
    const sub = subClient.database('d').collection('c');
    await sub.subscribe();
    await pub.set('a', { v: 1 });
    await until(() => sub.size === 1, 'the first item');
    const r = await raw(own.url);
    const [seq, epoch, t] = await r.hmGet('memis:{d/c}:meta', ['seq', 'epoch', 't']);
    await r.publish(
      'memis:{d/c}:ch',
      `${Number(seq) + 1}\n${epoch}\n${Number(t) + 5}\n${t}\ns\nforged\n0\n{"evil":true}`,
    );
    await until(() => sub.get('forged') !== undefined, 'the forgery applied');
    await pub.set('real', { v: 2 }); // takes the same seq
    await converged(r, sub, 'the repaired copy');
    assert.equal(sub.get('forged'), undefined);
    assert.ok(errors.some((e) => (e as { code?: string }).code === 'E_COPY_DIVERGED'));
    await own.stop();
  });

  it('writes nobody awaits reach Redis in the order they were made, also the first of each script on a new server', async () => {
    // Found by an independent attack: the first EVALSHA of the delete script failed with NOSCRIPT and its EVAL retry
    // went out after later sets, so a del made between sets landed last and Redis lost the item.
    for (let round = 0; round < 3; round++) {
      const own = await RedisServer.start();
      const r = await raw(own.url);
      const c = mk(own.url);
      const col = c.database('order').collection(`c${round}`);
      await col.set('x', { first: 1 });
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 200; i++) {
        pending.push(col.set('x', { i }));
        if (i === 100) pending.push(col.del('x'));
      }
      await Promise.all(pending);
      assert.deepEqual((await storedItem(r, 'memis:{order/c' + round + '}:i:x'))?.data, { i: 199 });
      await own.stop();
    }
  });
});
