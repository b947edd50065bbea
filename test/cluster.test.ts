import assert from 'node:assert/strict';
import Pack from '../index';
import type { Connection, Manager, MemisClient } from '../index';
import { record, sleep, until } from './helpers/events';
import { cluster, sentinelGroup, type Cluster, type Sentinels } from './helpers/topologies';

/** Keys that land on every master of a 3-master cluster. */
const spread = Array.from({ length: 30 }, (_, i) => `spread:${i}`);

describe('Redis Cluster', function () {
  this.timeout(90000);
  let c: Cluster;
  let manager: Manager;
  let connection: Connection;
  const clients: MemisClient[] = [];
  before(async () => {
    c = await cluster();
    ({ manager } = await Pack.promises.createManager({
      connectionString: c.seedUrl,
      meta: { cluster: true, commandTimeout: 2000 },
      onUnexpectedFailure: () => undefined,
    }));
    ({ connection } = await Pack.promises.getConnection({ manager }));
  });
  after(async () => {
    await Promise.all(clients.map((x) => x.quit()));
    await Pack.promises.destroyManager({ manager });
  });

  it('every cache machine works across slots, through both faces', async () => {
    for (const [i, key] of spread.entries()) {
      if (i % 2) await Pack.cacheValue({ connection, key, value: { i } });
      else await Pack.promises.cacheValue({ connection, key, value: { i }, ttl: 60 });
    }
    for (const [i, key] of spread.entries())
      assert.deepEqual(await Pack.promises.getCachedValue({ connection, key }), { value: { i } });
    await Pack.promises.destroyCachedValues({ connection, keys: [...spread, ...spread] });
    for (const key of spread)
      await assert.rejects(Pack.promises.getCachedValue({ connection, key }), { exit: 'notFound' });
  });

  it('accepts meta.cluster.rootNodes, with several seeds', async () => {
    const rootNodes = c.nodes.slice(0, 3).map((n) => ({ url: `redis://127.0.0.1:${n.port}` }));
    const { manager: m } = await Pack.promises.createManager({
      connectionString: 'redis://seeds-in-meta',
      meta: { cluster: { rootNodes } },
    });
    const { connection: conn } = await Pack.promises.getConnection({ manager: m });
    await Pack.promises.cacheValue({ connection: conn, key: 'via-root-nodes', value: 1 });
    assert.deepEqual(await Pack.promises.getCachedValue({ connection: conn, key: 'via-root-nodes' }), { value: 1 });
    await Pack.promises.destroyManager({ manager: m });
  });

  it('a refused cluster exits failed; a bad cluster option is refused at createManager', async () => {
    const { manager: m } = await Pack.promises.createManager({
      connectionString: 'redis://127.0.0.1:1',
      meta: { cluster: true },
    });
    await assert.rejects(Pack.promises.getConnection({ manager: m, timeout: 3000 }), { exit: 'failed' });
    await assert.rejects(
      Pack.promises.createManager({ connectionString: c.seedUrl, meta: { cluster: { rootNodes: 'x' } } }),
      { exit: 'failed' },
    );
  });

  it('replicated collections: one slot per collection, sharded pub/sub, fan-out to subscribers', async () => {
    const mk = () => {
      const x = Pack.createClient(c.seedUrl, { cluster: true, syncInterval: 200 });
      x.on('error', () => undefined);
      clients.push(x);
      return x;
    };
    const pub = mk().database('cl').collection('c');
    const subs = [mk(), mk()].map((x) => x.database('cl').collection('c'));
    const logs = subs.map(record);
    await Promise.all(subs.map((s) => s.subscribe()));
    for (let i = 0; i < 10; i++) await pub.set(`k${i}`, { i });
    await pub.del('k0');
    await until(() => logs.every((l) => l.length === 11), 'every change on every subscriber');
    const slots = await Promise.all(
      ['memis:{cl/c}:i:k1', 'memis:{cl/c}:meta', 'memis:{cl/c}:log', 'memis:{cl/c}:ch'].map((k) => c.masterOf(k)),
    );
    assert.equal(new Set(slots).size, 1, 'all of a collection on one master');
  });

  it('a master killed during use: calls settle, then succeed after the failover; collections catch up', async () => {
    const key = 'failover:key';
    const victim = await c.masterOf(key);
    const node = c.nodes.find((n) => n.port === victim)!;
    const sub = Pack.createClient(c.seedUrl, { cluster: true, syncInterval: 200 });
    sub.on('error', () => undefined);
    clients.push(sub);
    const col = sub.database('fo').collection('c');
    await col.subscribe();
    const pub = Pack.createClient(c.seedUrl, { cluster: true });
    pub.on('error', () => undefined);
    clients.push(pub);
    const pcol = pub.database('fo').collection('c');

    node.signal('SIGKILL');
    const outcomes: string[] = [];
    const deadline = Date.now() + 30000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      const r = await Pack.promises.cacheValue({ connection, key, value: 'after' }).then(
        () => 'success',
        (e: { exit?: string; message: string }) => e.exit ?? 'error:' + e.message,
      );
      outcomes.push(r);
      ok = r === 'success';
      if (!ok) await sleep(200);
    }
    assert.ok(ok, `a call succeeded after the failover (${outcomes.slice(-3).join(', ')})`);
    assert.ok(
      outcomes.every((o) => ['success', 'badConnection'].includes(o) || o.startsWith('error:')),
      outcomes.join(','),
    );
    assert.deepEqual(await Pack.promises.getCachedValue({ connection, key }), { value: 'after' });
    // Writes through the collections facade also resume, and the subscriber converges.
    await until(
      async () =>
        pcol.set('x', { v: 1 }).then(
          () => true,
          () => false,
        ),
      'a collection write after the failover',
      30000,
    );
    await until(() => col.get('x') !== undefined, 'the subscriber catches up', 10000);
    await node.restart(); // it rejoins as a replica
    await c.healthy();
  });
});

describe('Redis Sentinel', function () {
  this.timeout(90000);
  let s: Sentinels;
  before(async () => {
    s = await sentinelGroup();
  });

  it('connects through the sentinels; machines work; a failover is followed', async () => {
    const { manager } = await Pack.promises.createManager({
      connectionString: 'redis://sentinel-managed',
      meta: { sentinel: { name: s.name, sentinelRootNodes: s.rootNodes }, commandTimeout: 2000 },
    });
    const { connection } = await Pack.promises.getConnection({ manager });
    await Pack.promises.cacheValue({ connection, key: 'sentinel:k', value: [1, 2] });
    assert.deepEqual(await Pack.promises.getCachedValue({ connection, key: 'sentinel:k' }), { value: [1, 2] });

    const client = Pack.createClient('redis://sentinel-managed', {
      sentinel: { name: s.name, sentinelRootNodes: s.rootNodes },
      syncInterval: 200,
    });
    client.on('error', () => undefined);
    const col = client.database('sn').collection('c');
    await col.subscribe();
    await col.set('before', { v: 1 });
    await until(() => col.get('before') !== undefined, 'the local copy');

    const oldMaster = await s.masterPort();
    const victim = [s.master, s.replica].find((n) => n.port === oldMaster)!;
    victim.signal('SIGKILL');
    const deadline = Date.now() + 40000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      ok = await Pack.promises.cacheValue({ connection, key: 'sentinel:after', value: 'x' }).then(
        () => true,
        () => false,
      );
      if (!ok) await sleep(250);
    }
    assert.ok(ok, 'a call succeeded after the failover');
    assert.notEqual(await s.masterPort(), oldMaster);
    await until(
      async () =>
        col.set('after', { v: 2 }).then(
          () => true,
          () => false,
        ),
      'a collection write after the failover',
      30000,
    );
    await until(() => col.get('after') !== undefined, 'the copy follows the new master', 10000);
    await client.quit();
    await Pack.promises.destroyManager({ manager });
  });
});
