/**
 * Catch-up stays incremental (issue 18): a catch-up racing writes reads the log and the meta in one atomic script,
 * so it never turns into a full resync; a restart with the data intact is caught up from the log too.
 */
import assert from 'node:assert/strict';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { MemisClient } from '../index';
import type { FacadeCollection } from '../lib/facade';
import { storedItem } from './helpers/stored';
import { sleep, until } from './helpers/events';
import { RedisServer } from './helpers/redis-server';

describe('replicated collections: incremental catch-up (issue 18)', function () {
  this.timeout(60000);
  const clients: MemisClient[] = [];
  const mk = (url: string) => {
    const c = Pack.createClient(url, { syncInterval: 100, connectTimeout: 1000 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => undefined)));
  });

  async function truth(url: string): Promise<string> {
    const r = createRedis({ url });
    r.on('error', () => undefined);
    await r.connect();
    const out: Record<string, unknown> = {};
    for (const m of (await r.sMembers('memis:{cu/c}:keys')).sort()) {
      const item = await storedItem(r, `memis:{cu/c}:i:${m}`);
      if (item) out[m] = item.data;
    }
    r.destroy();
    return JSON.stringify(out);
  }
  const copy = (c: FacadeCollection) =>
    JSON.stringify(
      Object.fromEntries(
        c
          .keys()
          .sort()
          .map((k) => [k, c.get(k)]),
      ),
    );

  it('pub/sub connections cut while writes race the catch-ups: every catch-up incremental, no full resync', async () => {
    const own = await RedisServer.start();
    const pub = mk(own.url).database('cu').collection('c');
    const sub = mk(own.url).database('cu').collection('c') as FacadeCollection;
    await sub.subscribe();
    let stop = false;
    let n = 0;
    const writer = (async () => {
      while (!stop) await pub.set(`k${n % 40}`, { n: n++ }).catch(() => undefined);
    })();
    const raw = createRedis({ url: own.url });
    await raw.connect();
    for (let i = 0; i < 10; i++) {
      await sleep(150);
      await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    }
    stop = true;
    await writer;
    raw.destroy();
    await until(async () => copy(sub) === (await truth(own.url)), 'convergence');
    const stats = sub.replica!.stats();
    assert.ok(n > 100, `writes raced the catch-ups: ${n}`);
    assert.ok(stats.catchUps >= 5, `catch-ups: ${JSON.stringify(stats)}`);
    assert.equal(stats.resyncs, 0, `no full resync: ${JSON.stringify(stats)}`);
    await own.stop();
  });

  it('a restart with the data intact (RDB) is caught up from the log, without a full resync', async () => {
    const own = await RedisServer.start();
    const pub = mk(own.url).database('cu').collection('c');
    const sub = mk(own.url).database('cu').collection('c') as FacadeCollection;
    await sub.subscribe();
    for (let i = 0; i < 50; i++) await pub.set(`k${i}`, { i });
    await until(() => sub.size === 50, 'the items');
    const raw = createRedis({ url: own.url });
    await raw.connect();
    await raw.sendCommand(['SAVE']);
    raw.destroy();
    await own.restart(); // SIGKILL, then load the dump: nothing lost
    await until(async () => {
      await pub.set('after', { v: 1 }).catch(() => undefined);
      return sub.get('after') !== undefined;
    }, 'a write after the restart reaching the copy');
    await until(async () => copy(sub) === (await truth(own.url)), 'convergence');
    assert.equal(sub.replica!.stats().resyncs, 0);
    await own.stop();
  });

  it('12 copies that missed writes catch up as soon as their connections return after a SIGKILL + restart (AOF), without periodic checks; writes racing a second restart leave no full resync', async () => {
    const N = 12;
    const own = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const pub = mk(own.url).database('cu').collection('c');
    // A minute between periodic checks: whatever catches these copies up, it is not a check.
    const subs = Array.from({ length: N }, () => {
      const c = Pack.createClient(own.url, { syncInterval: 60000, connectTimeout: 1000 });
      c.on('error', () => undefined);
      clients.push(c);
      return c.database('cu').collection('c') as FacadeCollection;
    });
    for (let i = 0; i < 30; i++) await pub.set(`k${i}`, { i });
    await Promise.all(subs.map((s) => s.subscribe()));
    const raw = createRedis({ url: own.url });
    raw.on('error', () => undefined);
    await raw.connect();
    const pubsubClients = async () =>
      String(await raw.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']))
        .split('\n')
        .filter(Boolean).length;
    const normalClients = async () =>
      String(await raw.sendCommand(['CLIENT', 'LIST', 'TYPE', 'normal']))
        .split('\n')
        .filter(Boolean).length;
    // Keep the subscribers out (no new connection gets in), cut them, and write what they cannot hear.
    const connected = Number(/connected_clients:(\d+)/.exec(await raw.info('clients'))![1]);
    await raw.configSet('maxclients', String(connected - N));
    await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    for (let i = 0; i < 10; i++) await pub.set(`missed${i}`, { i });
    await own.restart(); // SIGKILL; the AOF brings every write back
    await until(async () => {
      if (!raw.isReady) return false;
      // Every subscriber and command connection back (the writer and this one included).
      return (await pubsubClients()) === N && (await normalClients()) >= N + 2;
    }, 'the connections back');
    const back = Date.now();
    const want = await truth(own.url);
    await until(() => subs.every((s) => copy(s) === want), 'every copy equal to Redis', 3000);
    const tookMs = Date.now() - back;
    for (const s of subs) {
      assert.equal(s.status, 'live');
      assert.equal(s.stats().resyncs, 0, 'the log covered the gap');
    }

    // Again, with a writer racing the catch-ups across the restart.
    let stop = false;
    let n = 0;
    const writer = (async () => {
      while (!stop) {
        await pub.set(`r${n % 25}`, { n: n++ }).catch(() => sleep(20));
      }
    })();
    await sleep(200);
    await own.restart();
    await until(async () => raw.isReady && (await pubsubClients()) === N, 'the subscribers back');
    await sleep(500);
    stop = true;
    await writer;
    const after = await truth(own.url);
    await until(() => subs.every((s) => copy(s) === after), 'every copy equal to Redis after the racing writes');
    for (const s of subs) assert.equal(s.stats().resyncs, 0, `no full resync: ${JSON.stringify(s.stats())}`);
    assert.ok(n > 20, `writes raced the catch-ups: ${n}`);
    raw.destroy();
    await own.stop();
    console.log(`      (copies equal ${tookMs} ms after the connections returned)`);
  });
});
