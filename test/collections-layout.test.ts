/**
 * The string item layout against what a deployment does to it (found by the attack on the layout change): the
 * README's ACL rules, keys of other programs at item keys, large items, items of the earlier layouts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { MemisClient } from '../index';
import { until } from './helpers/events';
import { RedisServer } from './helpers/redis-server';

type Raw = ReturnType<typeof createRedis>;

describe('replicated collections: the string item layout under attack', function () {
  this.timeout(60000);
  let srv: RedisServer;
  let raw: Raw;
  const clients: MemisClient[] = [];
  const client = (url = srv.url): MemisClient => {
    const c = Pack.createClient(url, { syncInterval: 100 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  const calls = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const m of (await raw.info('commandstats')).matchAll(/^cmdstat_(\w+):calls=(\d+)/gm))
      out[m[1]!] = Number(m[2]);
    return out;
  };
  /** Everything a refused write must leave as it was. */
  const state = async (prefix: string) => ({
    meta: await raw.hGetAll(`${prefix}meta`),
    log: await raw.xLen(`${prefix}log`),
    keys: (await raw.sMembers(`${prefix}keys`)).sort(),
    items: (await raw.keys(`${prefix}i:*`)).sort(),
  });

  before(async () => {
    srv = await RedisServer.start();
    raw = createRedis({ url: srv.url });
    raw.on('error', () => undefined);
    await raw.connect();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => undefined)));
  });
  after(async () => {
    raw.destroy();
    await srv.stop();
  });

  it("the README's ACL rules, verbatim, let a reader load and a writer write; a missing permission writes nothing", async () => {
    const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8').replace(/\n/g, ' ');
    const reader = /`ACL SETUSER reader on >pw ([^`]+)`/.exec(readme)?.[1];
    const extra = /and writers the same plus `\+publish` \(`\+spublish` on a Cluster\), `([^`]+)`/.exec(readme)?.[1];
    assert.ok(reader && extra, 'the ACL rules are in the README');
    const rules = (words: string) =>
      words
        .replace(/\{D\/C\}/g, '{acl/c}')
        .split(/\s+/)
        .filter(Boolean);
    await raw.sendCommand(['ACL', 'SETUSER', 'reader', 'on', '>pw', ...rules(reader)]);
    await raw.sendCommand(['ACL', 'SETUSER', 'writer', 'on', '>pw', ...rules(reader), '+publish', ...rules(extra)]);
    // The same writer without `+set`: refused before anything is written.
    await raw.sendCommand([
      'ACL',
      'SETUSER',
      'noset',
      'on',
      '>pw',
      ...rules(reader),
      '+publish',
      ...rules(extra),
      '-set',
    ]);
    const url = (user: string) => srv.url.replace('redis://', `redis://${user}:pw@`);
    const writer = client(url('writer')).database('acl').collection('c');
    const r1 = await writer.set('a', { n: 1 });
    await writer.set('ttl', { n: 2 }, 60);
    await writer.set('a', { n: 3 }, { ifRevision: r1 });
    await writer.del('ttl');
    await writer.batch().set('b', { n: 4 }).set('c', { n: 5 }, { ttl: 30 }).exec();
    const copy = client(url('reader')).database('acl').collection('c');
    await copy.subscribe();
    assert.deepEqual(copy.get('b'), { n: 4 });
    assert.equal(copy.size, 3);
    await writer.set('d', { n: 6 });
    await until(() => copy.get('d') !== undefined, 'a write after the load');

    // The same writer without `+publish`, or without the channel: refused too, not written then reported.
    await raw.sendCommand(['ACL', 'SETUSER', 'nopub', 'on', '>pw', ...rules(reader), ...rules(extra)]);
    await raw.sendCommand([
      'ACL',
      'SETUSER',
      'nochan',
      'on',
      '>pw',
      ...rules(reader),
      '+publish',
      ...rules(extra),
      'resetchannels',
    ]);
    const before = await state('memis:{acl/c}:');
    for (const [user, command] of [
      ['noset', 'SET'],
      ['nopub', 'PUBLISH'],
      ['nochan', 'PUBLISH'],
    ] as const) {
      const c = client(url(user)).database('acl').collection('c');
      const writes: Array<() => Promise<unknown>> = [
        () => c.set('e', { n: 7 }),
        () => c.batch().set('f', { n: 8 }).del('zz').exec(),
      ];
      if (command === 'PUBLISH') writes.push(() => c.del('a'));
      for (const write of writes) {
        await assert.rejects(write(), (err: Error & { code?: string }) => {
          assert.equal(err.code, 'E_FAILED'); // the facade's code; the setItem/writeItems machines say E_REDIS_REFUSED
          assert.match(err.message, /nothing was written/);
          assert.match(err.message, new RegExp(`NOPERM.*'${command}'`));
          return true;
        });
      }
    }
    assert.deepEqual(await state('memis:{acl/c}:'), before, 'nothing written');
  });

  it('subscribe() by a user whose ACL lacks the channel, a read command or the keys rejects at once (NOPERM), with one error and nothing left subscribed; it works once the ACL is fixed', async () => {
    const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8').replace(/\n/g, ' ');
    const reader = /`ACL SETUSER reader on >pw ([^`]+)`/.exec(readme)![1]!;
    const rules = (words: string) =>
      words
        .replace(/\{D\/C\}/g, '{nop/c}')
        .split(/\s+/)
        .filter(Boolean);
    await client().database('nop').collection('c').set('a', { n: 1 });
    const url = (user: string) => srv.url.replace('redis://', `redis://${user}:pw@`);
    for (const [user, extra] of [
      ['nochannel', ['resetchannels']],
      ['nosmembers', ['-smembers']],
      ['otherkeys', ['resetkeys', '~other:*']],
    ] as const) {
      await raw.sendCommand(['ACL', 'SETUSER', user, 'reset', 'on', '>pw', ...rules(reader), ...extra]);
      const c = Pack.createClient(url(user), { syncInterval: 100, retryDelay: 50 });
      clients.push(c);
      const errors: Error[] = [];
      c.on('error', (e) => errors.push(e));
      const copy = c.database('nop').collection('c');
      const started = Date.now();
      await assert.rejects(copy.subscribe(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'E_FAILED', `${user}: ${err.message}`);
        assert.match(err.message, /NOPERM/, user);
        assert.match(err.message, /nop\/c/, user);
        assert.match(err.message, /Not retried/, user);
        assert.doesNotMatch(err.message, /pw@/, 'no password in the message');
        return true;
      });
      assert.ok(Date.now() - started < 10_000, `${user}: rejected at once, not after retries`);
      await new Promise((r) => setTimeout(r, 300)); // retries (every ~50 ms) would show up as error events
      await until(
        async () => ((await raw.sendCommand(['PUBSUB', 'NUMSUB', 'memis:{nop/c}:ch'])) as [string, number])[1] === 0,
        `${user}: the channel unsubscribed on the server (an UNSUBSCRIBE the ACL refuses would leave it)`,
        3000,
      );
      assert.equal(
        errors.length,
        0,
        `${user}: the rejection is the report, no retries: ${errors.map((e) => e.message).join('; ')}`,
      );
      assert.equal(copy.status, 'loading', `${user}: nothing subscribed`);
      // Fixed ACL: the same collection object subscribes.
      await raw.sendCommand(['ACL', 'SETUSER', user, 'reset', 'on', '>pw', ...rules(reader)]);
      await copy.subscribe();
      assert.deepEqual(copy.get('a'), { n: 1 }, `${user}: loaded after the ACL is fixed`);
      await c.quit();
    }
    // Only Redis's own NOPERM counts: a collection named NOPERM whose load fails otherwise (a stray key of another
    // type) is retried until the key is gone.
    await raw.set('memis:{nop/NOPERM}:keys', 'stray');
    const errors: Error[] = [];
    const c = Pack.createClient(srv.url, { syncInterval: 100, retryDelay: 50 });
    clients.push(c);
    c.on('error', (e) => errors.push(e));
    const named = c.database('nop').collection('NOPERM');
    let settled = false;
    const p = named.subscribe().finally(() => (settled = true));
    await until(() => errors.length >= 2, 'retries reported');
    assert.equal(settled, false, 'not refused for its name');
    assert.match(errors[0]!.message, /WRONGTYPE/);
    await raw.del('memis:{nop/NOPERM}:keys');
    await p;
  });

  it("another program's keys at item keys (a list, a foreign hash, a foreign string) are skipped and counted by snapshot and catch-up alike", async () => {
    const pub = client().database('foreign').collection('c');
    const live = client().database('foreign').collection('c');
    await live.subscribe();
    for (const k of ['list', 'hash', 'vhash', 'string', 'fine']) await pub.set(k, { k });
    await until(() => live.size === 5, 'the items');
    // Another program replaces four of them; each with a log entry (as if it came from a write), published nothing.
    const [seqText, t] = await raw.hmGet('memis:{foreign/c}:meta', ['seq', 't']);
    let seq = Number(seqText);
    let stamp = Number(t);
    const logged = async (key: string) => {
      seq++;
      stamp++;
      await raw.xAdd('memis:{foreign/c}:log', `${seq}-0`, { t: String(stamp), o: 's', k: key, d: '0' });
      await raw.hSet('memis:{foreign/c}:meta', { seq: String(seq), t: String(stamp) });
    };
    await raw.del(['memis:{foreign/c}:i:list', 'memis:{foreign/c}:i:hash', 'memis:{foreign/c}:i:vhash']);
    await raw.rPush('memis:{foreign/c}:i:list', 'x');
    await raw.hSet('memis:{foreign/c}:i:hash', { foo: 'bar' });
    await raw.hSet('memis:{foreign/c}:i:vhash', { v: '{"x":1}' }); // no m:seq: not written by this pack
    await raw.set('memis:{foreign/c}:i:string', '{"s":5,"r":0,"d":0,"v":{"x":1}}');
    for (const k of ['list', 'hash', 'vhash', 'string']) await logged(k);
    await pub.set('later', { n: 1 }); // after them: the live copy must reach it
    await until(() => live.get('later') !== undefined, 'the write after the foreign keys', 5000);
    assert.equal(live.status, 'live');
    const fresh = client().database('foreign').collection('c');
    await fresh.subscribe(); // resolves: a foreign key does not stop a load
    for (const copy of [live, fresh]) {
      assert.deepEqual([...copy.keys()].sort(), ['fine', 'later']);
      assert.equal(copy.stats().rejectedMessages, 4);
    }
  });

  it("a foreign string or hash with a huge revision at an item key does not raise later writes' revisions past what copies read", async () => {
    const pub = client().database('poison').collection('c');
    const copy = client().database('poison').collection('c');
    await copy.subscribe();
    const r1 = await pub.set('a', { n: 1 });
    await raw.set('memis:{poison/c}:i:junk', '{"s":1,"r":100000000000000000000,"d":0,"v":{"x":1}}');
    await raw.hSet('memis:{poison/c}:i:junkhash', { 'm:seq': '1', 'm:rev': '1e20', v: '{"x":2}' });
    const r2 = await pub.set('junk', { n: 2 });
    const r3 = await pub.set('junkhash', { n: 3 });
    const r4 = await pub.set('b', { n: 4 });
    for (const r of [r2, r3, r4]) {
      assert.ok(Number.isSafeInteger(r) && r > r1 && r < r1 + 60_000_000, `${r} is a stamp of Redis's clock`);
    }
    const fresh = client().database('poison').collection('c');
    await fresh.subscribe();
    for (const c of [copy, fresh]) {
      await until(() => c.size === 4, 'every item in the copy');
      assert.equal(c.entry('b')!.revision, r4);
    }
    // The revision handed out works as a condition.
    assert.ok((await pub.set('b', { n: 5 }, { ifRevision: r4 })) > r4);
  });

  it('windows are sized by bytes: a load of large items holds a few of them at a time in Redis, not 2,000', async () => {
    const pub = client().database('large').collection('c');
    const big = 'x'.repeat(600_000);
    for (let i = 0; i < 30; i++) await pub.set(`k${i}`, { i, big });
    const before = await calls();
    const copy = client().database('large').collection('c');
    await copy.subscribe();
    const after = await calls();
    assert.equal(copy.size, 30);
    assert.equal((copy.get('k29') as { big: string }).big.length, 600_000);
    // 1 MiB per window: one or two of these items per MGET (the first window, before sizes are known, is 16 items).
    const mgets = (after.mget ?? 0) - (before.mget ?? 0);
    assert.ok(mgets >= 10, `${mgets} MGETs for 30 items of 600 kB`);
  });

  it('items of the first layout are read a few per script call (a script blocks Redis while it runs)', async () => {
    const pub = client().database('old').collection('c');
    await pub.set('first', { a: 1 });
    const [seqText] = await raw.hmGet('memis:{old/c}:meta', ['seq']);
    const n = 100;
    for (let i = 0; i < n; i++) {
      const fields: Record<string, string> = { 'm:seq': seqText! };
      for (let f = 0; f < 50; f++) fields[`d:f${f}`] = String(f);
      await raw.hSet(`memis:{old/c}:i:old${i}`, fields);
      await raw.sAdd('memis:{old/c}:keys', `old${i}`);
    }
    const before = await calls();
    const copy = client().database('old').collection('c');
    await copy.subscribe();
    const after = await calls();
    assert.equal(copy.size, n + 1);
    assert.equal((copy.get('old42') as Record<string, number>).f49, 49);
    const scripts = (after.eval ?? 0) + (after.evalsha ?? 0) - (before.eval ?? 0) - (before.evalsha ?? 0);
    assert.ok(scripts >= Math.ceil(n / 16), `${scripts} script calls for ${n} hashes`);
  });
});
