import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { MemisClient } from '../index';
import type { FacadeCollection } from '../lib/facade';
import { storedItem } from './helpers/stored';
import { record, sleep, until } from './helpers/events';
import { freePort, RedisServer } from './helpers/redis-server';

interface Artist {
  genre: string;
  rank?: number;
}

describe('replicated collections (memis facade)', () => {
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

  it('delivers set events to every subscriber, and each keeps a copy', async () => {
    const pub = client().database('db1').collection<Artist>('artists');
    const subs = [client(), client(), client()].map((c) => c.database('db1').collection<Artist>('artists'));
    const logs = subs.map(record);
    await Promise.all(subs.map((s) => s.subscribe()));
    await pub.set('coldplay', { genre: 'Alternative', rank: 1 });
    await until(() => logs.every((l) => l.length === 1), 'set on every subscriber');
    for (const [i, s] of subs.entries()) {
      assert.deepEqual(logs[i]![0], {
        ...logs[i]![0],
        type: 'set',
        key: 'coldplay',
        data: { genre: 'Alternative', rank: 1 },
      });
      assert.deepEqual(s.get('coldplay'), { genre: 'Alternative', rank: 1 });
      assert.deepEqual(s.keys(), ['coldplay']);
      assert.equal(s.size, 1);
    }
  });

  it('gives a late joiner a set for every item present, then changes', async () => {
    const pub = client().database('db2').collection<Artist>('artists');
    await pub.set('a', { genre: 'x' });
    await pub.set('b', { genre: 'y' });
    await pub.del('a');
    const late = client().database('db2').collection<Artist>('artists');
    const log = record(late);
    await late.subscribe();
    assert.deepEqual(
      log.map((e) => [e.type, e.key]),
      [['set', 'b']],
    );
    await pub.set('c', { genre: 'z' });
    await until(() => log.length === 2, 'the change after joining');
    assert.deepEqual(log[1]!.data, { genre: 'z' });
  });

  it('fires set when contents change, not for a rewrite of identical contents', async () => {
    const pub = client().database('db3').collection('c');
    const sub = client().database('db3').collection('c');
    const log = record(sub);
    await sub.subscribe();
    await pub.set('k', { a: 1, b: [1, 2] });
    await pub.set('k', { b: [1, 2], a: 1 });
    await pub.set('k', { a: 2, b: [1, 2] });
    await pub.set('marker', {});
    await until(() => log.some((e) => e.key === 'marker'), 'the marker');
    assert.deepEqual(
      log.filter((e) => e.key === 'k').map((e) => e.data),
      [
        { a: 1, b: [1, 2] },
        { a: 2, b: [1, 2] },
      ],
    );
  });

  it('deletes: del resolves true once, subscribers get delete with the last copy', async () => {
    const pub = client().database('db4').collection<Artist>('c');
    const sub = client().database('db4').collection<Artist>('c');
    const log = record(sub);
    await sub.subscribe();
    await pub.set('k', { genre: 'last' });
    assert.equal(await pub.del('k'), true);
    assert.equal(await pub.del('k'), false);
    await until(() => log.length === 2, 'the delete');
    assert.deepEqual(
      log.map((e) => [e.type, e.data]),
      [
        ['set', { genre: 'last' }],
        ['delete', { genre: 'last' }],
      ],
    );
    assert.equal(sub.get('k'), undefined);
    assert.equal(await raw.exists('memis:{db4/c}:i:k'), 0);
  });

  it('fires expire once, with the last copy, within one second of the TTL', async () => {
    const pub = client().database('db5').collection<Artist>('c');
    const sub = client().database('db5').collection<Artist>('c');
    const log = record(sub);
    await sub.subscribe();
    const t0 = Date.now();
    await pub.set('short', { genre: 'brief' }, 0.4);
    await until(() => log.some((e) => e.type === 'expire'), 'expire', 3000);
    const expire = log.find((e) => e.type === 'expire')!;
    assert.deepEqual(expire.data, { genre: 'brief' });
    const after = expire.at - t0;
    assert.ok(after >= 350 && after <= 1400, `expire came ${after} ms after the write`);
    await sleep(300);
    assert.equal(log.filter((e) => e.type === 'expire').length, 1);
    assert.equal(await raw.exists('memis:{db5/c}:i:short'), 0);
  });

  it('does not fire expire for an item set again (without TTL) before its TTL ran out', async () => {
    const pub = client().database('db6').collection('c');
    const sub = client().database('db6').collection('c');
    const log = record(sub);
    await sub.subscribe();
    await pub.set('k', { v: 1 }, 0.3);
    await pub.set('k', { v: 2 });
    await sleep(700);
    assert.deepEqual(
      log.map((e) => e.type),
      ['set', 'set'],
    );
    assert.equal(Number(await raw.pTTL('memis:{db6/c}:i:k')), -1);
  });

  it('an item loaded without a TTL, then set again unchanged with one, gets the deadline and expires', async () => {
    // A copy's entry of an item without a TTL has no deadline field: the unchanged re-set with a TTL adds it.
    const pub = client().database('db6b').collection('c');
    await pub.set('k', { v: 1 });
    const sub = client().database('db6b').collection('c');
    const log = record(sub);
    await sub.subscribe();
    assert.equal(sub.entry('k')?.expiresAt, null);
    await pub.set('k', { v: 1 }, 0.3);
    await until(() => typeof sub.entry('k')?.expiresAt === 'number', 'the deadline');
    await until(() => log.some((e) => e.type === 'expire'), 'expire');
    assert.deepEqual(
      log.map((e) => [e.type, e.data]),
      [
        ['set', { v: 1 }],
        ['expire', { v: 1 }],
      ],
    );
    assert.equal(sub.get('k'), undefined);
  });

  it('multi registers one listener for several events', async () => {
    const pub = client().database('db7').collection('c');
    const sub = client().database('db7').collection('c');
    const gone: string[] = [];
    sub.multi('expire delete', (key) => gone.push(key));
    await sub.subscribe();
    await pub.set('d', { x: 1 });
    await pub.set('e', { x: 1 }, 0.2);
    await pub.del('d');
    await until(() => gone.length === 2, 'expire and delete');
    assert.deepEqual(gone.sort(), ['d', 'e']);
    // @ts-expect-error: `nope` is not a collection event
    assert.throws(() => sub.multi('set nope', () => undefined), /Unknown collection event "nope"/);
    assert.throws(() => sub.on('update' as never, () => undefined), /Unknown collection event/);
  });

  describe('refused data', () => {
    class Thing {
      a = 1;
    }
    const bad: Array<[string, unknown, RegExp]> = [
      ['a string', 'text', /only plain objects/],
      ['a number', 5, /only plain objects/],
      ['an array', [1], /only plain objects/],
      ['null', null, /only plain objects/],
      ['a Date', new Date(), /only plain objects/],
      ['a class instance', new Thing(), /only plain objects/],
      ['a field that is undefined', { a: undefined }, /field "a".*undefined/],
      ['a field that is a function', { f: () => 1 }, /field "f"/],
      ['a BigInt field', { n: 1n }, /field "n"/],
      ['a NaN field', { n: NaN }, /field "n"/],
    ];
    for (const [name, data, message] of bad) {
      it(`refuses ${name} and writes nothing`, async () => {
        const c = client().database('refused').collection('c');
        await assert.rejects(c.set('k', data as never), message);
        assert.equal(await raw.exists('memis:{refused/c}:i:k'), 0);
        assert.equal(await raw.exists('memis:{refused/c}:meta'), 0);
      });
    }
    it('subscribe() rejects at once on a usage refusal from the machine, without retrying it', async () => {
      const c = client();
      const errors: unknown[] = [];
      c.on('error', (e) => errors.push(e));
      // createClient refuses such a value; forced here to reach the machine's own refusal.
      (c as unknown as { options: { syncInterval: number } }).options.syncInterval = 0.5;
      await assert.rejects(c.database('refused').collection('sub').subscribe(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'E_INVALID_INPUT');
        assert.match(err.message, /syncInterval/);
        return true;
      });
      assert.deepEqual(errors, [], 'no error event: nothing to retry');
    });

    it('refuses a bad ttl and an empty key', async () => {
      const c = client().database('refused').collection('c');
      await assert.rejects(c.set('k', { a: 1 }, -1), /ttl must be a positive number/);
      await assert.rejects(c.set('', { a: 1 }), /empty string/);
    });
  });

  it('round-trips every JSON field type exactly, and __proto__ pollutes nothing', async () => {
    const data = {
      n: 0,
      f: -1.5,
      s: '',
      z: null,
      t: true,
      b: false,
      arr: [1, 'a', null, [[]]],
      o: { deep: { x: '1' } },
      u: 'ü✓',
      numstr: '12',
      ['__proto__']: { polluted: true },
      constructor: 'c',
    };
    const wire = JSON.parse(JSON.stringify(data)) as Record<string, unknown>;
    // Built with JSON.parse, `__proto__` above is an own property, as a user sending JSON would have it.
    const pub = client().database('types').collection('c');
    const sub = client().database('types').collection('c');
    await sub.subscribe();
    await pub.set(
      'k',
      JSON.parse(
        '{"__proto__": {"polluted": true}, "n": 0, "f": -1.5, "s": "", "z": null, "t": true, "b": false, "arr": [1, "a", null, [[]]], "o": {"deep": {"x": "1"}}, "u": "ü✓", "numstr": "12", "constructor": "c"}',
      ),
    );
    await until(() => sub.get('k') !== undefined, 'the item');
    const got = sub.get('k')!;
    assert.deepEqual(
      { ...got },
      { ...wire, ['__proto__']: undefined, ...JSON.parse('{"__proto__": {"polluted": true}}') },
    );
    assert.equal(Object.getPrototypeOf(got), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    // A late joiner decodes the same from what Redis stores.
    const late = client().database('types').collection('c');
    await late.subscribe();
    assert.deepEqual(late.get('k'), got);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    // The documented encoding: one string, `{"s":<seq>,"r":<revision>,"d":<deadline>,"v":<the item>}`.
    assert.equal(await raw.type('memis:{types/c}:i:k'), 'string');
    const stored = JSON.parse((await raw.get('memis:{types/c}:i:k'))!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(stored), ['s', 'r', 'd', 'v']);
    assert.equal(stored.r, late.entry('k')!.revision);
    assert.equal(stored.d, 0);
    const v = stored.v as Record<string, unknown>;
    assert.equal(v.numstr, '12');
    assert.equal(v.n, 0);
    assert.deepEqual(v, JSON.parse(JSON.stringify(got)));
  });

  it('reads items stored in the first layout (`d:<field>` fields); their next write stores `v` only', async () => {
    const pub = client().database('layout').collection('c');
    await pub.set('first', { a: 1 }); // creates the collection's meta, log and index
    const [seqText, t] = await raw.hmGet('memis:{layout/c}:meta', ['seq', 't']);
    // An item as the first layout stored it, with its log entry and meta, and published nothing (a copy finds it by catching up).
    const seq = Number(seqText) + 1;
    const stamp = String(Number(t) + 1);
    await raw.hSet('memis:{layout/c}:i:old', { 'm:seq': String(seq), 'd:n': '1', 'd:s': '"x"', 'd:o': '{"p":[1]}' });
    await raw.sAdd('memis:{layout/c}:keys', 'old');
    await raw.xAdd('memis:{layout/c}:log', `${seq}-0`, { t: stamp, o: 's', k: 'old', d: '0' });
    await raw.hSet('memis:{layout/c}:meta', { seq: String(seq), t: stamp });
    const late = client().database('layout').collection('c');
    await late.subscribe(); // the snapshot path
    assert.deepEqual(late.get('old'), { n: 1, s: 'x', o: { p: [1] } });
    await pub.set('old', { n: 2 });
    await until(() => (late.get('old') as { n?: number } | undefined)?.n === 2, 'the new write');
    assert.equal(await raw.type('memis:{layout/c}:i:old'), 'string');
    assert.deepEqual((await storedItem(raw, 'memis:{layout/c}:i:old'))?.data, { n: 2 });
  });

  it('reads items stored in the second layout (a hash with `v`, `m:seq`, `m:rev`, `m:dl`), by snapshot and by catch-up', async () => {
    const pub = client().database('layout2').collection('c');
    await pub.set('first', { a: 1 });
    const sub = client().database('layout2').collection('c');
    await sub.subscribe();
    // Items as the second layout stored them, each with its log entry, published nothing: `sub` catches up on them.
    const write = async (key: string, fields: Record<string, string>, ttlMs = 0) => {
      const [seqText, t] = await raw.hmGet('memis:{layout2/c}:meta', ['seq', 't']);
      const seq = Number(seqText) + 1;
      const stamp = String(Number(t) + 1);
      const deadline = ttlMs > 0 ? Date.now() + ttlMs : 0;
      await raw.hSet(`memis:{layout2/c}:i:${key}`, {
        'm:seq': String(seq),
        'm:rev': stamp,
        ...(deadline ? { 'm:dl': String(deadline) } : {}),
        ...fields,
      });
      if (deadline) await raw.pExpireAt(`memis:{layout2/c}:i:${key}`, deadline);
      await raw.sAdd('memis:{layout2/c}:keys', key);
      await raw.xAdd('memis:{layout2/c}:log', `${seq}-0`, { t: stamp, o: 's', k: key, d: String(deadline) });
      await raw.hSet('memis:{layout2/c}:meta', { seq: String(seq), t: stamp });
      return Number(stamp);
    };
    const rev = await write('old', { v: '{"n":1}' });
    await write('ttl', { v: '{"n":2}' }, 60_000);
    await until(() => sub.get('ttl') !== undefined, 'the catch-up', 3000);
    assert.deepEqual(sub.get('old'), { n: 1 });
    assert.equal(sub.entry('old')!.revision, rev);
    assert.equal(typeof sub.entry('ttl')!.expiresAt, 'number');
    assert.equal((sub as FacadeCollection).replica!.resyncs, 0, 'caught up from the log, not by a full resync');
    const late = client().database('layout2').collection('c');
    await late.subscribe(); // the snapshot path
    assert.deepEqual(late.get('old'), { n: 1 });
    assert.equal(late.entry('old')!.revision, rev);
    assert.equal(typeof late.entry('ttl')!.expiresAt, 'number');
    // A conditional write sees the old item's revision, and stores the item as a string.
    await assert.rejects(pub.set('old', { n: 9 }, { ifRevision: rev - 1 }), /E_CONFLICT|revision/);
    const next = await pub.set('old', { n: 3 }, { ifRevision: rev });
    assert.ok(next > rev);
    assert.equal(await raw.type('memis:{layout2/c}:i:old'), 'string');
    await until(() => late.get('old')?.n === 3 && sub.get('old')?.n === 3, 'the new write');
  });

  it('keeps many collections and databases apart, and names cannot escape their namespace', async () => {
    const a = client();
    const b = client();
    const names = ['c1', 'c2', 'x}:i:y', '*', 'a/b'];
    const dbs = ['d1', 'd2', '{d1'];
    const subs = dbs.flatMap((d) => names.map((n) => b.database(d).collection(n)));
    await Promise.all(subs.map((s) => s.subscribe()));
    for (const d of dbs) for (const n of names) await a.database(d).collection(n).set(`key:}{${n}`, { d, n });
    await until(() => subs.every((s) => s.size === 1), 'one item in each collection');
    for (const s of subs) assert.deepEqual(s.get(`key:}{${s.name}`), { d: s.database, n: s.name });
    // One command and one subscriber connection for all of client b's collections.
    const list = String(await raw.sendCommand(['CLIENT', 'LIST']));
    const subscribers = list.split('\n').filter((l) => / sub=[1-9]/.test(l));
    assert.ok(subscribers.length <= 1 + clients.length - 2, `subscriber connections: ${subscribers.length}`);
  });

  it('a throwing listener does not stop other listeners or lose later changes; the client reports it', async () => {
    const pub = client().database('throw').collection('c');
    const subClient = client();
    const errors: Error[] = [];
    subClient.on('error', (e) => errors.push(e));
    const sub = subClient.database('throw').collection('c');
    const seen: string[] = [];
    sub.on('set', () => {
      throw new Error('listener bug');
    });
    sub.on('set', (key) => seen.push(key));
    await sub.subscribe();
    for (let i = 0; i < 20; i++) void pub.set(`k${i}`, { i });
    await until(() => seen.length === 20, 'all 20 sets');
    assert.equal(errors.filter((e) => e.message === 'listener bug').length, 20);
  });

  it('catches up on a lost notification (written without a publish) through the periodic check', async () => {
    const pub = client().database('lost').collection('c');
    const sub = client().database('lost').collection('c');
    const log = record(sub);
    await sub.subscribe();
    await pub.set('seen', { v: 1 });
    await until(() => log.length === 1, 'the first set');
    // Simulate a lost message: write the item, its log entry and the meta as the write script does, publish nothing.
    const [seqText, t] = await raw.hmGet('memis:{lost/c}:meta', ['seq', 't']);
    const seq = Number(seqText) + 1;
    const stamp = String(Number(t) + 1);
    await raw.hSet('memis:{lost/c}:i:ghost', { 'm:seq': String(seq), v: '{"v":2}' });
    await raw.sAdd('memis:{lost/c}:keys', 'ghost');
    await raw.xAdd('memis:{lost/c}:log', `${seq}-0`, { t: stamp, o: 's', k: 'ghost', d: '0' });
    await raw.hSet('memis:{lost/c}:meta', { seq: String(seq), t: stamp });
    await until(() => sub.get('ghost') !== undefined, 'the lost item', 3000);
    assert.deepEqual(sub.get('ghost'), { v: 2 });
    assert.equal((sub as FacadeCollection).replica!.resyncs, 0, 'replayed from the log, not a full resync');
  });

  it('does a full resync when the change log no longer covers the gap, vanished items included', async () => {
    const pub = client().database('trim').collection('c');
    const sub = client().database('trim').collection('c');
    const log = record(sub);
    await sub.subscribe();
    await pub.set('stays', { v: 1 });
    await pub.set('goes', { v: 1 });
    await until(() => log.length === 2, 'two sets');
    // Behind the replica's back: remove an item and lose the log.
    await raw.del(['memis:{trim/c}:i:goes', 'memis:{trim/c}:log']);
    await raw.hIncrBy('memis:{trim/c}:meta', 'seq', 5);
    await until(() => log.some((e) => e.type === 'delete' && e.key === 'goes'), 'delete of the vanished item', 3000);
    assert.deepEqual(sub.keys(), ['stays']);
    assert.ok((sub as FacadeCollection).replica!.resyncs >= 1);
  });

  it('converges after the server is killed and restarted empty in the middle of a stream of updates', async () => {
    const own = await RedisServer.start();
    const mk = () => {
      const c = Pack.createClient(own.url, { syncInterval: 100, connectTimeout: 1000 });
      clients.push(c);
      c.on('error', () => undefined);
      return c;
    };
    const pub = mk().database('crash').collection<{ i: number }>('c');
    const subs = [mk(), mk()].map((c) => c.database('crash').collection<{ i: number }>('c'));
    const logs = subs.map(record);
    await Promise.all(subs.map((s) => s.subscribe()));
    let i = 0;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        await pub.set(`k${i % 10}`, { i }).catch(() => undefined);
        i++;
        await sleep(5);
      }
    })();
    await sleep(200);
    await own.restart(); // SIGKILL, then start empty on the same port
    await sleep(500);
    stop = true;
    await writer;
    const truth = async () => {
      const r = createRedis({ url: own.url });
      await r.connect();
      const out: Record<string, unknown> = {};
      for (const m of await r.sMembers('memis:{crash/c}:keys')) {
        const item = await storedItem(r, `memis:{crash/c}:i:${m}`);
        if (item) out[m] = item.data;
      }
      r.destroy();
      return out;
    };
    const expected = await truth();
    assert.ok(Object.keys(expected).length > 0, 'writes resumed after the restart');
    for (const s of subs) {
      await until(
        () =>
          JSON.stringify(
            Object.fromEntries(
              s
                .keys()
                .sort()
                .map((k) => [k, s.get(k)]),
            ),
          ) ===
          JSON.stringify(
            Object.fromEntries(
              Object.keys(expected)
                .sort()
                .map((k) => [k, expected[k]]),
            ),
          ),
        `subscriber converges to ${JSON.stringify(expected)}`,
        5000,
      );
    }
    // Items written before the crash and never rewritten vanished: subscribers were told.
    const before = new Set(logs[0]!.filter((e) => e.type === 'set').map((e) => e.key));
    for (const k of before)
      if (!(k in expected))
        assert.ok(
          logs[0]!.some((e) => e.type === 'delete' && e.key === k),
          `delete for ${k}`,
        );
    await own.stop();
  });

  it('set and del reject within a bounded time with a clear error when Redis is unreachable', async () => {
    const c = Pack.createClient(`redis://127.0.0.1:${await freePort()}`, { connectTimeout: 500 });
    clients.push(c);
    const col = c.database('down').collection('c');
    await assert.rejects(col.set('k', { a: 1 }), /Could not set "k" in down\/c/);
    await assert.rejects(col.del('k'), /Could not delete "k" in down\/c/);
  });

  it('the process exits by itself after quit()', async function () {
    this.timeout(60000);
    const script = `
      const Pack = require(${JSON.stringify(path.resolve(__dirname, '..', 'index.ts'))}).default;
      (async () => {
        const c = Pack.createClient(${JSON.stringify(srv.url)});
        const col = c.database('exit').collection('c');
        col.on('set', () => {});
        await col.subscribe();
        await col.set('k', { a: 1 }, 60);
        await c.quit();
      })();`;
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: path.resolve(__dirname, '..'),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(-1);
      }, 50000);
      child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    assert.equal(code, 0, 'the child exited by itself with code 0');
  });
});
