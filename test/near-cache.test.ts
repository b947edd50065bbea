import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createClient } from 'redis';
import Pack from '../index';
import type { Connection, Manager } from '../index';
import { copierFor, copyJson, MISS, nearCacheOf, NearStore, type NearCache } from '../lib/near-cache';
import { connect } from './helpers/connect';
import { RedisServer } from './helpers/redis-server';

type Raw = ReturnType<typeof createClient>;

/** Wait until `cond()` holds (checked every 10 ms); fails the test after 10 s. Not a timed assertion: a bound. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const stop = Date.now() + 10000;
  while (!cond()) {
    if (Date.now() > stop) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('near-cache store (no server)', () => {
  it('a read that began before an invalidation of its key is not stored', () => {
    const s = new NearStore(10);
    const t = s.begin('k');
    s.invalidate('k');
    s.complete(t, 'old', undefined, 0);
    assert.equal(s.has('k'), false);
    const t2 = s.begin('k');
    s.complete(t2, 'new', undefined, 0);
    assert.equal(s.get('k'), 'new');
  });

  it('a read that began before a flush is not stored; other keys’ invalidations do not matter', () => {
    const s = new NearStore(10);
    const a = s.begin('a');
    const b = s.begin('b');
    s.invalidate('other');
    s.complete(b, 2, undefined, 0);
    s.flush();
    s.complete(a, 1, undefined, 0);
    assert.equal(s.has('a'), false);
    assert.equal(s.has('b'), false);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const s = new NearStore(3);
    for (const k of ['a', 'b', 'c']) s.complete(s.begin(k), k, undefined, 0);
    assert.equal(s.get('a'), 'a'); // a is now the most recent
    s.complete(s.begin('d'), 'd', undefined, 0);
    assert.equal(s.size, 3);
    assert.equal(s.has('b'), false);
    assert.deepEqual(
      ['a', 'c', 'd'].map((k) => s.has(k)),
      [true, true, true],
    );
  });

  it('keeps the same entries as a reference LRU through any mix of reads, stores, invalidations and flushes', () => {
    const s = new NearStore(4);
    const ref = new Map<string, number>(); // insertion order = use order, as a plain LRU
    let x = 12345;
    const rnd = (n: number) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    for (let step = 0; step < 5000; step++) {
      const key = `k${rnd(10)}`;
      const op = rnd(100);
      if (op < 50) {
        const got = s.get(key);
        const want = ref.get(key);
        assert.equal(got === MISS ? undefined : got, want, `step ${step}: get ${key}`);
        if (want !== undefined) {
          ref.delete(key);
          ref.set(key, want);
        }
      } else if (op < 85) {
        s.complete(s.begin(key), step, undefined, 0);
        ref.delete(key);
        ref.set(key, step);
        if (ref.size > 4) ref.delete(ref.keys().next().value as string);
      } else if (op < 99) {
        s.invalidate(key);
        ref.delete(key);
      } else {
        s.flush();
        ref.clear();
      }
      assert.equal(s.size, ref.size, `step ${step}: size`);
      for (let k = 0; k < 10; k++) assert.equal(s.has(`k${k}`), ref.has(`k${k}`), `step ${step}: k${k}`);
    }
  });

  it('reads in flight across evictions, sweeps of empty slots and flushes: stored exactly when no invalidation or flush came after they began', () => {
    // Many keys through a small store: slots are emptied by LRU evictions and invalidations and swept out of the
    // Map in bulk, while reads are in flight on some of them. A reference model says which reads may be stored.
    const s = new NearStore(4);
    const ref = new Map<string, number>(); // insertion order = use order
    const pending: Array<{ key: string; token: ReturnType<NearStore['begin']>; stale: boolean }> = [];
    let x = 987654;
    const rnd = (n: number) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const store = (key: string, v: number) => {
      ref.delete(key);
      ref.set(key, v);
      if (ref.size > 4) ref.delete(ref.keys().next().value as string);
    };
    let maxSlots = 0;
    for (let step = 0; step < 20000; step++) {
      const key = `k${rnd(300)}`;
      const op = rnd(100);
      if (op < 30) {
        const got = s.get(key);
        const want = ref.get(key);
        assert.equal(got === MISS ? undefined : got, want, `step ${step}: get ${key}`);
        if (want !== undefined) store(key, want);
      } else if (op < 55) {
        pending.push({ key, token: s.begin(key), stale: false });
      } else if (op < 80 && pending.length > 0) {
        const [p] = pending.splice(rnd(pending.length), 1);
        if (rnd(10) === 0) s.abandon(p!.token);
        else {
          s.complete(p!.token, step, undefined, 0);
          if (!p!.stale) store(p!.key, step);
        }
      } else if (op < 99) {
        s.invalidate(key);
        ref.delete(key);
        for (const p of pending) if (p.key === key) p.stale = true;
      } else {
        s.flush();
        ref.clear();
        for (const p of pending) p.stale = true;
      }
      assert.equal(s.size, ref.size, `step ${step}: size`);
      for (const k of ref.keys()) assert.equal(s.has(k), true, `step ${step}: ${k}`);
      maxSlots = Math.max(maxSlots, s.slots);
    }
    // Empty slots are swept: the Map holds about 64 + twice the slots with reads in flight, not all 300 keys.
    assert.ok(maxSlots < 300, `at most ${maxSlots} slots for 300 keys`);
  });

  it('a read in flight keeps its slot through sweeps: an invalidation after many other keys came and went still reaches it', () => {
    const s = new NearStore(2);
    const t = s.begin('a');
    for (let i = 0; i < 500; i++) {
      s.complete(s.begin(`k${i}`), i, undefined, 0);
      s.invalidate(`k${i}`);
    }
    assert.ok(s.slots < 200, `${s.slots} slots: empty ones were swept`);
    s.invalidate('a');
    s.complete(t, 'old', undefined, 0);
    assert.equal(s.has('a'), false);
    const t2 = s.begin('a');
    s.complete(t2, 'new', undefined, 0);
    assert.equal(s.get('a'), 'new');
  });

  it('a write’s steps (slot, invalidate, begin) on a key whose invalidation tips the sweep: the value is stored and served', () => {
    const s = new NearStore(2);
    s.complete(s.begin('w'), 'old', undefined, 0);
    // 64 empty slots with no read in flight: the next emptied slot goes past the sweep threshold.
    for (let i = 0; i < 64; i++) s.abandon(s.begin(`e${i}`));
    const slot = s.slot('w');
    s.invalidateSlot(slot);
    const t = s.beginOn(slot);
    s.complete(t, 'new', undefined, 0);
    assert.equal(s.get('w'), 'new');
    assert.equal(s.size, 1);
  });

  it('a read that began before a flush does not overwrite one that began after it', () => {
    const s = new NearStore(10);
    const before = s.begin('k');
    s.flush();
    const after = s.begin('k');
    s.complete(after, 'new', undefined, 0);
    s.complete(before, 'old', undefined, 0);
    assert.equal(s.get('k'), 'new');
  });

  it('drops an entry at its expiry', () => {
    const s = new NearStore(3);
    s.complete(s.begin('k'), 'v', 100, 1000);
    assert.equal(s.get('k', 1099), 'v');
    assert.equal(s.get('k', 1100), MISS);
    assert.equal(s.has('k'), false);
  });

  it('hands out copies: mutating one changes neither the entry nor the next copy', () => {
    const s = new NearStore(3);
    const original = { a: [1, { b: 2 }], c: 'x' };
    s.complete(s.begin('k'), original, undefined, 0);
    original.a.push(99); // the value given to the store is copied too
    const got = s.get('k') as { a: unknown[]; c: string };
    got.a.push(3);
    got.c = 'changed';
    assert.deepEqual(s.get('k'), { a: [1, { b: 2 }], c: 'x' });
  });

  it('the copier compiled for a shape copies every value of that shape, and random JSON values, exactly and apart', () => {
    let x = 4242;
    const rnd = (n: number) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const keys = ['id', 'name', '0', '7', '__proto__', 'a"b', 'c\\d', '\u2028', 'constructor', 'toString', ''];
    const gen = (depth: number): unknown => {
      const r = rnd(depth > 4 ? 4 : 8);
      if (r === 0) return null;
      if (r === 1) return rnd(1000) - 500;
      if (r === 2) return `s${rnd(100)}`;
      if (r === 3) return rnd(2) === 0;
      if (r === 4) return Array.from({ length: rnd(4) }, () => gen(depth + 1));
      if (r === 5) return Array.from({ length: rnd(40) }, (_, i) => `k${i}`); // primitives
      const o: Record<string, unknown> = {};
      const n = depth < 2 && rnd(3) === 0 ? 40 : rnd(5); // some past the 32 keys a compiled copier takes
      for (let i = 0; i < n; i++) o[n > 5 ? `f${i}` : keys[rnd(keys.length)]!] = gen(depth + 1);
      return o;
    };
    // The same shape with other primitives (numbers, strings, booleans changed; keys kept).
    const vary = (v: unknown): unknown => {
      if (typeof v === 'number') return v + 1;
      if (typeof v === 'string') return `${v}x`;
      if (typeof v === 'boolean') return !v;
      if (v === null || typeof v !== 'object') return v;
      if (Array.isArray(v)) return v.map(vary);
      const o = {};
      for (const k of Object.keys(v))
        Object.defineProperty(o, k, {
          value: vary((v as Record<string, unknown>)[k]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return o;
    };
    // No object or array of the copy is one of the original's.
    const apart = (a: unknown, b: unknown, path: string) => {
      if (a === null || typeof a !== 'object') return;
      assert.notEqual(a, b, `${path} is shared`);
      assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${path}: prototype`);
      assert.deepEqual(Object.keys(a), Object.keys(b as object), `${path}: keys in order`);
      for (const k of Object.keys(a)) apart((a as never)[k], (b as never)[k], `${path}.${k}`);
    };
    let compiled = 0;
    for (let i = 0; i < 3000; i++) {
      // Values through JSON, as the store holds them (JSON.parse makes "__proto__" an own key).
      const text = JSON.stringify(gen(0));
      const v = JSON.parse(text) as unknown;
      if (copierFor(v) !== copyJson && v !== null && typeof v === 'object') compiled++;
      const c = copierFor(v)(v);
      assert.equal(JSON.stringify(c), text, `value ${i}`);
      apart(c, v, `value ${i}`);
      // Another value of the same shape (same keys and kinds, other primitives) through the same copier.
      const w = vary(JSON.parse(text));
      assert.equal(JSON.stringify(copierFor(v)(w)), JSON.stringify(w), `same shape ${i}`);
    }
    assert.ok(compiled > 200, `${compiled} values went through a compiled copier`);
  });

  it('a wide nested value is copied by copyJson, not compiled (a shape is at most about 1 KB of key names)', () => {
    const wide = (depth: number): Record<string, unknown> =>
      Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`key${i}`, depth === 0 ? i : wide(depth - 1)]));
    const v = wide(3); // 16 ** 4 = 65,536 leaves: compiled, it would inline every one with its whole path
    assert.equal(copierFor(v), copyJson);
    const got = copierFor(v)(v) as Record<string, Record<string, unknown>>;
    assert.deepEqual(got, v);
    assert.notEqual(got.key0, v.key0, 'a copy');
  });

  it('without code generation (node --disallow-code-generation-from-strings) values are copied by copyJson', () => {
    const script =
      "const { copierFor, copyJson } = require('./lib/near-cache'); const v = { a: 1, b: ['x'], c: { d: null } };" +
      'const c = copierFor(v); const got = c(v); got.b.push(1);' +
      'process.stdout.write(JSON.stringify([c === copyJson, got, v]));';
    const r = spawnSync(
      process.execPath,
      ['--disallow-code-generation-from-strings', '-r', 'ts-node/register/transpile-only', '-e', script],
      { cwd: path.resolve(__dirname, '..'), encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [
      true,
      { a: 1, b: ['x', 1], c: { d: null } },
      { a: 1, b: ['x'], c: { d: null } },
    ]);
  });

  it('a hit hands out a copy made by the compiled copier: mutating it changes nothing held', () => {
    const s = new NearStore(3);
    s.complete(s.begin('k'), { id: 1, tags: ['a', 'b'], inner: { n: 2, list: [1, 2] } }, undefined, 0);
    const got = s.get('k') as { id: number; tags: string[]; inner: { n: number; list: number[] } };
    got.id = 9;
    got.tags.push('c');
    got.inner.n = 9;
    got.inner.list.pop();
    assert.deepEqual(s.get('k'), { id: 1, tags: ['a', 'b'], inner: { n: 2, list: [1, 2] } });
    assert.notEqual(s.get('k'), s.get('k'));
  });

  it('copies "__proto__" as an own property, as JSON.parse made it', () => {
    const v = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const c = copyJson(v) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(c), Object.prototype);
    assert.deepEqual(Object.keys(c), ['__proto__', 'a']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('near-cache (meta.nearCache) against a real server', () => {
  let srv: RedisServer;
  let url: string;
  let manager: Manager;
  let connection: Connection;
  let near: NearCache;
  let writer: Raw;

  const get = (key: string) => Pack.promises.getCachedValue({ connection, key });

  before(async () => {
    srv = await RedisServer.start({ args: ['--enable-debug-command', 'yes'] });
    url = srv.url;
    ({ manager, connection } = await connect(url, { nearCache: true }));
    await get('warm-up').catch(() => undefined); // the first read starts the tracking connection
    near = nearCacheOf(manager)!;
    await near.sync();
    writer = createClient({ url });
    writer.on('error', () => undefined);
    await writer.connect();
  });
  after(async () => {
    await Pack.promises.destroyManager({ manager });
    writer.destroy();
    await srv.stop();
  });

  it('serves repeated reads from this process, each caller getting its own copy', async () => {
    await Pack.promises.cacheValue({ connection, key: 'copy', value: { list: [1, 2], name: 'a' } });
    const first = (await get('copy')).value as { list: number[]; name: string };
    const hits = near.store.hits;
    const second = (await get('copy')).value as { list: number[]; name: string };
    assert.equal(near.store.hits, hits + 1, 'the second read is a hit');
    first.list.push(3);
    second.name = 'mutated';
    assert.deepEqual((await get('copy')).value, { list: [1, 2], name: 'a' });
  });

  it('the runner face (await, .exec, .switch) is answered from memory too, and a miss still exits notFound', async () => {
    await Pack.promises.cacheValue({ connection, key: 'runner-hit', value: { n: 1 } });
    const hits = near.store.hits;
    assert.deepEqual(await Pack.getCachedValue({ connection, key: 'runner-hit' }), { value: { n: 1 } });
    const viaExec = await new Promise((resolve, reject) =>
      Pack.getCachedValue({ connection, key: 'runner-hit' }).exec((err: unknown, r: unknown) =>
        err ? reject(err as Error) : resolve(r),
      ),
    );
    assert.deepEqual(viaExec, { value: { n: 1 } });
    const viaSwitch = await new Promise((resolve, reject) =>
      Pack.getCachedValue({ connection, key: 'runner-hit' }).switch({
        error: reject,
        notFound: () => reject(new Error('notFound')),
        success: resolve,
      }),
    );
    assert.deepEqual(viaSwitch, { value: { n: 1 } });
    assert.equal(near.store.hits, hits + 3, 'all three were hits');
    await assert.rejects(async () => Pack.getCachedValue({ connection, key: 'runner-missing' }), { exit: 'notFound' });
  });

  it('a write on another connection: once acknowledged and its invalidation delivered, no read returns the old value', async () => {
    for (let i = 0; i < 50; i++) {
      await get('counter').catch(() => undefined); // cached (from the second round on)
      await writer.set('counter', JSON.stringify(i));
      await near.sync();
      assert.deepEqual(await get('counter'), { value: i });
    }
  });

  it('a write by another process is seen once its invalidation is delivered', async () => {
    await writer.set('xproc', JSON.stringify('before'));
    await near.sync();
    assert.deepEqual(await get('xproc'), { value: 'before' });
    assert.deepEqual(await get('xproc'), { value: 'before' });
    assert.equal(near.store.has('xproc'), true);
    const script =
      "const { createClient } = require('redis');" +
      '(async () => { const c = createClient({ url: process.argv[1] }); await c.connect();' +
      ` await c.set('xproc', JSON.stringify('after')); c.destroy(); })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script, url], {
      cwd: path.resolve(__dirname, '..'),
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    await near.sync();
    assert.deepEqual(await get('xproc'), { value: 'after' });
  });

  it('own writes through the machines (any connection of the manager) are read back at once', async () => {
    const other = (await Pack.promises.getConnection({ manager })).connection;
    for (let i = 0; i < 20; i++) {
      await get('own').catch(() => undefined);
      await Pack.promises.cacheValue({ connection: other, key: 'own', value: i });
      assert.deepEqual(await get('own'), { value: i }); // no sync: the write dropped the key locally
    }
    await Pack.promises.destroyCachedValues({ connection: other, keys: ['own'] });
    await assert.rejects(get('own'), { exit: 'notFound' });
    await Pack.promises.releaseConnection({ connection: other });
  });

  it('a value read before an invalidation is not cached after it (reply and invalidation in one network read)', async () => {
    const sleeper = createClient({ url });
    sleeper.on('error', () => undefined);
    await sleeper.connect();
    try {
      for (let i = 0; i < 5; i++) {
        const key = `race${i}`;
        await writer.set(key, JSON.stringify('old'));
        await near.sync();
        // While the server sleeps, our read (on the tracking connection) and then another client's write queue
        // up; it wakes, answers the read, applies the write and pushes the invalidation: both leave in one write.
        const sleeping = sleeper.sendCommand(['DEBUG', 'SLEEP', '0.3']);
        await new Promise((r) => setTimeout(r, 50));
        const read = get(key);
        await new Promise((r) => setTimeout(r, 50));
        const write = writer.set(key, JSON.stringify('new'));
        const got = await read;
        await write;
        await sleeping;
        assert.ok(['old', 'new'].includes(got.value as string));
        await near.sync();
        assert.deepEqual(
          await get(key),
          { value: 'new' },
          `round ${i}: the old value was cached after its invalidation`,
        );
      }
    } finally {
      sleeper.destroy();
    }
  });

  it('after its own cacheValue the key is still tracked: a later write by another client is seen', async () => {
    assert.equal(near.scripted, true, 'this server runs the write script');
    for (let i = 0; i < 5; i++) {
      await Pack.promises.cacheValue({ connection, key: 'own-then-other', value: `own${i}` });
      const hits = near.store.hits;
      assert.deepEqual(await get('own-then-other'), { value: `own${i}` });
      assert.equal(near.store.hits, hits + 1, 'the value written was stored: the read is a hit');
      await writer.set('own-then-other', JSON.stringify(`other${i}`));
      await near.sync();
      assert.deepEqual(await get('own-then-other'), { value: `other${i}` }, `round ${i}: our own value was kept`);
    }
  });

  it('another client’s write right behind our cacheValue (both answered in one network read) is not hidden by ours', async () => {
    const sleeper = createClient({ url });
    sleeper.on('error', () => undefined);
    await sleeper.connect();
    try {
      for (let i = 0; i < 5; i++) {
        const key = `wrace${i}`;
        await Pack.promises.cacheValue({ connection, key, value: 'old' });
        // While the server sleeps, our write (on the tracking connection) and then another client's queue up; it
        // wakes, runs both in that order and pushes the invalidation right behind our write's reply.
        const sleeping = sleeper.sendCommand(['DEBUG', 'SLEEP', '0.3']);
        await new Promise((r) => setTimeout(r, 50));
        const ours = Pack.promises.cacheValue({ connection, key, value: 'ours' });
        const reading = get(key); // shares our write in flight
        await new Promise((r) => setTimeout(r, 50));
        const theirs = writer.set(key, JSON.stringify('theirs'));
        await ours;
        assert.ok(['ours', 'theirs'].includes((await reading).value as string));
        await theirs;
        await sleeping;
        await near.sync();
        assert.deepEqual(await get(key), { value: 'theirs' }, `round ${i}: our value was cached after theirs`);
      }
    } finally {
      sleeper.destroy();
    }
  });

  it('a flush of the database empties it', async () => {
    await writer.set('flushed', JSON.stringify(1));
    await get('flushed');
    await get('flushed');
    assert.equal(near.store.has('flushed'), true);
    await writer.flushDb();
    await near.sync();
    assert.equal(near.store.size, 0);
    await assert.rejects(get('flushed'), { exit: 'notFound' });
  });

  it('a value written with a ttl is not served once it expired', async () => {
    await Pack.promises.cacheValue({ connection, key: 'ttl', value: 'short', ttl: 1 });
    assert.deepEqual(await get('ttl'), { value: 'short' });
    assert.deepEqual(await get('ttl'), { value: 'short' });
    await new Promise((r) => setTimeout(r, 1100));
    await assert.rejects(get('ttl'), { exit: 'notFound' });
  });

  it('CLIENT KILL of the tracking connection flushes it; a write made meanwhile is read after reconnecting', async () => {
    await writer.set('killed', JSON.stringify('before'));
    await get('killed');
    await get('killed');
    assert.equal(near.store.has('killed'), true);
    const flushes = near.store.flushes;
    const id = await near.trackingId();
    await writer.sendCommand(['CLIENT', 'KILL', 'ID', String(id)]);
    await writer.set('killed', JSON.stringify('after')); // its invalidation has nowhere to go
    await until(() => near.store.flushes > flushes, 'the cache is flushed when the connection is lost');
    assert.equal(near.store.has('killed'), false);
    await near.sync(); // reconnected, tracking on again
    assert.deepEqual(await get('killed'), { value: 'after' });
    assert.deepEqual(await get('killed'), { value: 'after' });
  });

  it('holds at most maxEntries values, least recently used out first', async () => {
    const small = await connect(url, { nearCache: { maxEntries: 3 } });
    try {
      const g = (key: string) => Pack.promises.getCachedValue({ connection: small.connection, key });
      await g('warm').catch(() => undefined);
      const n = nearCacheOf(small.manager)!;
      await n.sync();
      for (let i = 0; i < 5; i++) await writer.set(`lru${i}`, JSON.stringify(i));
      for (let i = 0; i < 5; i++) await g(`lru${i}`);
      assert.equal(n.store.size, 3);
      assert.deepEqual(
        [0, 1, 2, 3, 4].map((i) => n.store.has(`lru${i}`)),
        [false, false, true, true, true],
      );
    } finally {
      await Pack.promises.destroyManager({ manager: small.manager });
    }
  });
});

describe('near-cache: the server killed and restarted', () => {
  it('flushes when the server dies; after a restart (empty) nothing old is served', async () => {
    const srv = await RedisServer.start();
    const { manager, connection } = await connect(srv.url, { nearCache: true });
    try {
      const get = (key: string) => Pack.promises.getCachedValue({ connection, key });
      await Pack.promises.cacheValue({ connection, key: 'k', value: 'v' });
      await get('k');
      const near = nearCacheOf(manager)!;
      await near.sync();
      await get('k');
      await get('k');
      assert.equal(near.store.has('k'), true);
      await srv.kill();
      await until(() => !near.usable && near.store.size === 0, 'flushed when the server died');
      await srv.restart();
      await near.sync();
      // The caller's own connection reconnects in the background: until it has, reads exit badConnection.
      let outcome: unknown;
      for (let tries = 0; tries < 200; tries++) {
        try {
          outcome = await get('k');
        } catch (err) {
          if ((err as { exit?: string }).exit === 'badConnection') {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          outcome = err;
        }
        break;
      }
      assert.equal((outcome as { exit?: string }).exit, 'notFound');
    } finally {
      await Pack.promises.destroyManager({ manager });
      await srv.stop();
    }
  });
});

describe('near-cache: a user who may not run scripts', () => {
  it('cacheValue falls back to a plain SET and a read behind it, with the same guarantees', async () => {
    const srv = await RedisServer.start();
    const admin = createClient({ url: srv.url });
    admin.on('error', () => undefined);
    await admin.connect();
    await admin.sendCommand(['ACL', 'SETUSER', 'noscripts', 'on', '>secret-pw', '~*', '&*', '+@all', '-@scripting']);
    const u = new URL(srv.url);
    const { manager, connection } = await connect(`redis://noscripts:secret-pw@${u.host}`, { nearCache: true });
    try {
      const get = (key: string) => Pack.promises.getCachedValue({ connection, key });
      await get('warm').catch(() => undefined);
      const near = nearCacheOf(manager)!;
      await near.sync();
      assert.equal(near.scripted, false);
      for (let i = 0; i < 3; i++) {
        await Pack.promises.cacheValue({ connection, key: 'k', value: `own${i}` });
        assert.deepEqual(await get('k'), { value: `own${i}` });
        await near.sync();
        assert.deepEqual(await get('k'), { value: `own${i}` });
        await admin.set('k', JSON.stringify(`other${i}`));
        await near.sync();
        assert.deepEqual(await get('k'), { value: `other${i}` });
      }
    } finally {
      await Pack.promises.destroyManager({ manager });
      admin.destroy();
      await srv.stop();
    }
  });
});

describe('meta.nearCache: bad values', () => {
  for (const [label, value] of [
    ['a string', 'yes'],
    ['maxEntries 0', { maxEntries: 0 }],
    ['maxEntries 1.5', { maxEntries: 1.5 }],
    ['an unknown option', { size: 10 }],
  ] as const) {
    it(`refuses ${label} at createManager, naming meta.nearCache`, async () => {
      const err = await Pack.promises
        .createManager({ connectionString: 'redis://127.0.0.1:1', meta: { nearCache: value } })
        .then(
          () => assert.fail('accepted'),
          (e: unknown) => e as { exit: string; raw: { error: Error & { code: string } } },
        );
      assert.equal(err.exit, 'failed');
      assert.equal(err.raw.error.code, 'E_INVALID_NEAR_CACHE');
      assert.match(err.raw.error.message, /meta\.nearCache/);
    });
  }

  it('refuses it with meta.cluster', async () => {
    await assert.rejects(
      Pack.promises.createManager({
        connectionString: 'redis://127.0.0.1:1',
        meta: { cluster: true, nearCache: true },
      }),
      (e: { exit: string; raw: { error: Error & { code: string } } }) =>
        e.exit === 'failed' && e.raw.error.code === 'E_INVALID_NEAR_CACHE' && /single server/.test(e.raw.error.message),
    );
  });
});
