/**
 * Freshness you can see (issue 16, item 4): `collection.status`, its `status` event and `stats()`, through a
 * SIGKILLed and restarted private redis-server and through a lost pub/sub connection.
 */
import assert from 'node:assert/strict';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { CollectionStatus, MemisClient } from '../index';
import { sleep, until } from './helpers/events';
import { RedisServer } from './helpers/redis-server';

describe('replicated collections: status and stats (issue 16)', function () {
  this.timeout(60000);
  const clients: MemisClient[] = [];
  const servers: RedisServer[] = [];
  const mk = (url: string, syncInterval = 200) => {
    const c = Pack.createClient(url, { syncInterval, connectTimeout: 1000 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => undefined)));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  const start = async () => {
    const s = await RedisServer.start();
    servers.push(s);
    return s;
  };

  it('before subscribe: loading, stats all zero; once loaded: live, with one status event', async () => {
    const own = await start();
    const c = mk(own.url).database('st').collection('c');
    const written = await mk(own.url).database('st').collection('c').set('a', { v: 1 });
    const seen: CollectionStatus[] = [];
    c.on('status', (s) => void seen.push(s));
    assert.equal(c.status, 'loading');
    assert.deepEqual(c.stats(), { items: 0, revision: 0, catchUps: 0, resyncs: 0, rejectedMessages: 0, lastSyncAt: 0 });
    const before = Date.now();
    await c.subscribe();
    assert.equal(c.status, 'live');
    assert.deepEqual(seen, ['live']);
    const stats = c.stats();
    assert.equal(stats.items, 1);
    // The revision of the last write the copy holds: the item's revision here.
    assert.equal(stats.revision, written);
    assert.equal(c.entry('a')!.revision, written);
    assert.equal(stats.resyncs, 0);
    assert.ok(stats.lastSyncAt >= before, `lastSyncAt ${stats.lastSyncAt} is the load's time`);
    // An idle copy keeps confirming: lastSyncAt moves on with the periodic checks.
    await until(() => c.stats().lastSyncAt > stats.lastSyncAt, 'a later confirmation');
    await c.unsubscribe();
    assert.equal(c.status, 'loading');
    assert.deepEqual(seen, ['live']);
  });

  it('Redis SIGKILLed and restarted (data intact): live → stale → live, one event per change, equal again', async () => {
    const own = await start();
    const writer = mk(own.url).database('st').collection('c');
    const c = mk(own.url).database('st').collection('c');
    const seen: Array<[CollectionStatus, number]> = [];
    c.on('status', (s) => void seen.push([s, Date.now()]));
    await c.subscribe();
    for (let i = 0; i < 20; i++) await writer.set(`k${i}`, { i });
    await until(() => c.size === 20, 'the items');
    const raw = createRedis({ url: own.url });
    await raw.connect();
    await raw.sendCommand(['SAVE']);
    raw.destroy();
    const killedAt = Date.now();
    await own.kill();
    await until(() => c.status === 'stale', 'stale while Redis is down');
    assert.ok(Date.now() - killedAt >= 200, 'not stale before syncInterval has passed');
    assert.equal(c.size, 20, 'a stale copy keeps its contents');
    await sleep(500); // stays stale, without more events
    assert.deepEqual(
      seen.map(([s]) => s),
      ['live', 'stale'],
    );
    const lastSync = c.stats().lastSyncAt;
    assert.ok(lastSync <= killedAt + 50, 'no confirmation while Redis is down');
    await own.restart();
    await until(() => c.status === 'live', 'live again after the restart');
    assert.deepEqual(
      seen.map(([s]) => s),
      ['live', 'stale', 'live'],
    );
    assert.ok(c.stats().lastSyncAt > lastSync);
    await until(async () => {
      await writer.set('after', { v: 1 }).catch(() => undefined);
      return c.get('after') !== undefined;
    }, 'a write after the restart');
    assert.equal(c.size, 21);
    assert.equal(c.stats().resyncs, 0, 'the log covered the gap');
    await sleep(600);
    assert.equal(seen.length, 3, `no more status events: ${JSON.stringify(seen)}`);
  });

  it('the pub/sub connection cut and kept out: stale although the command connection works, then live', async () => {
    const own = await start();
    const writer = mk(own.url).database('st').collection('c');
    const c = mk(own.url).database('st').collection('c');
    const seen: CollectionStatus[] = [];
    c.on('status', (s) => void seen.push(s));
    await c.subscribe();
    await writer.set('a', { v: 1 });
    await until(() => c.get('a') !== undefined, 'the item');
    const raw = createRedis({ url: own.url });
    await raw.connect();
    // No new connection gets in (the command connections stay), then cut the subscribers.
    const connected = Number(/connected_clients:(\d+)/.exec(await raw.info('clients'))![1]);
    await raw.configSet('maxclients', String(connected - 1));
    await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await until(() => c.status === 'stale', 'stale without its subscriber');
    await writer.set('b', { v: 2 }); // unseen by pub/sub
    await raw.configSet('maxclients', '10000');
    await until(() => c.status === 'live', 'live once the subscriber is back and caught up');
    assert.deepEqual(c.get('b'), { v: 2 }, 'caught up before saying live');
    assert.deepEqual(seen, ['live', 'stale', 'live']);
    assert.equal(c.stats().resyncs, 0);
    raw.destroy();
  });

  it('a brief pub/sub cut (shorter than syncInterval) leaves the copy live and caught up', async () => {
    const own = await start();
    const writer = mk(own.url, 2000).database('st').collection('c');
    const c = mk(own.url, 2000).database('st').collection('c');
    const seen: CollectionStatus[] = [];
    c.on('status', (s) => void seen.push(s));
    await c.subscribe();
    const raw = createRedis({ url: own.url });
    await raw.connect();
    const catchUps = c.stats().catchUps;
    await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await writer.set('x', { v: 1 });
    await until(() => c.get('x') !== undefined, 'the write, by catch-up or by message', 1500);
    await until(() => c.stats().catchUps > catchUps, 'a catch-up after the subscriber came back', 1500);
    assert.equal(c.status, 'live');
    assert.deepEqual(seen, ['live']);
    raw.destroy();
  });
});
