/**
 * Catch-up stays incremental (issue 18): a catch-up racing writes reads the log and the meta in one atomic script,
 * so it never turns into a full resync; a restart with the data intact is caught up from the log too.
 */
import assert from 'node:assert/strict';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { MemisClient } from '../index';
import { decodeHash } from '../lib/collections/codec';
import type { FacadeCollection } from '../lib/facade';
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
      const h = await r.hGetAll(`memis:{cu/c}:i:${m}`);
      if (Object.keys(h).length > 0) out[m] = decodeHash(h).data;
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
});
