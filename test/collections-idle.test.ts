/**
 * Idle cost (issue 14, target 4): the periodic checks of every collection a client follows go out together, one
 * round trip per connection per `syncInterval`, whatever the number of collections. Counted with the private
 * server's INFO commandstats.
 */
import assert from 'node:assert/strict';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { Collection, MemisClient } from '../index';
import { sleep, until } from './helpers/events';
import { RedisServer } from './helpers/redis-server';

describe('replicated collections: idle cost (issue 14)', function () {
  this.timeout(60000);
  const clients: MemisClient[] = [];
  const servers: RedisServer[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => undefined)));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  async function calls(raw: { info(section: string): Promise<string> }): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const m of (await raw.info('commandstats')).matchAll(/^cmdstat_(\w+):calls=(\d+)/gm))
      out[m[1]!] = Number(m[2]);
    return out;
  }

  async function setup(n: number, syncInterval: number) {
    const own = await RedisServer.start();
    servers.push(own);
    const client = Pack.createClient(own.url, { syncInterval, connectTimeout: 1000 });
    client.on('error', () => undefined);
    clients.push(client);
    const db = client.database('idle');
    const collections: Collection[] = [];
    for (let i = 0; i < n; i++) collections.push(db.collection(`c${i}`));
    await Promise.all(collections.map((c, i) => c.set('k', { i })));
    await Promise.all(collections.map((c) => c.subscribe()));
    const raw = createRedis({ url: own.url });
    raw.on('error', () => undefined);
    await raw.connect();
    return { own, collections, raw };
  }

  it('50 collections on one client: about one transaction per syncInterval, each checking all 50', async () => {
    const interval = 200;
    const { collections, raw } = await setup(50, interval);
    await sleep(interval * 2); // past the subscribes' own commands
    const before = await calls(raw);
    const since = Date.now();
    await sleep(interval * 10);
    const after = await calls(raw);
    const ticks = (Date.now() - since) / interval;
    const execs = (after.exec ?? 0) - (before.exec ?? 0);
    const hmgets = (after.hmget ?? 0) - (before.hmget ?? 0);
    // One EXEC (one round trip) per tick, give or take a tick at either end; per collection it would be 50 a tick.
    assert.ok(execs >= ticks - 3 && execs <= ticks + 2, `${execs} transactions in ${ticks.toFixed(1)} intervals`);
    assert.ok(hmgets >= 50 * (ticks - 3), `${hmgets} meta reads: every collection checked on every tick`);
    assert.equal((after.eval ?? 0) + (after.evalsha ?? 0), (before.eval ?? 0) + (before.evalsha ?? 0), 'no catch-up');
    for (const c of collections) {
      assert.equal(c.status, 'live');
      assert.ok(Date.now() - c.stats().lastSyncAt < 3 * interval, `${c.name} confirmed by the shared checks`);
    }
    raw.destroy();
  });

  it('one collection Redis refuses to check fails alone: it turns stale, the others stay live', async () => {
    const interval = 100;
    const { collections, raw } = await setup(10, interval);
    await raw.del('memis:{idle/c3}:meta');
    await raw.set('memis:{idle/c3}:meta', 'not a hash'); // WRONGTYPE for c3's check
    await until(() => collections[3]!.status === 'stale', 'the refused collection stale');
    const at = Date.now();
    await sleep(interval * 3);
    for (const [i, c] of collections.entries()) {
      if (i === 3) continue;
      assert.equal(c.status, 'live', `${c.name} live`);
      assert.ok(c.stats().lastSyncAt > at, `${c.name} still confirmed by the shared check`);
    }
    raw.destroy();
  });

  it('a collection that ends leaves the others checked; the last one stops the shared timer', async () => {
    const interval = 100;
    const { collections, raw } = await setup(3, interval);
    await collections[0]!.unsubscribe();
    await collections[1]!.unsubscribe();
    const at = Date.now();
    await sleep(interval * 3);
    assert.ok(collections[2]!.stats().lastSyncAt > at, 'the remaining collection is still checked');
    await collections[2]!.unsubscribe();
    await sleep(interval);
    const before = await calls(raw);
    await sleep(interval * 4);
    const after = await calls(raw);
    assert.equal((after.exec ?? 0) - (before.exec ?? 0), 0, 'no checks once nothing is subscribed');
    raw.destroy();
  });
});
