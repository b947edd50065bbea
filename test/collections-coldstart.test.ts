/**
 * Cold start (issue 18): a snapshot costs one command (MGET) per window of 2,000 items, not one per item. Counted with the
 * private server's INFO commandstats.
 */
import assert from 'node:assert/strict';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { MemisClient } from '../index';
import { RedisServer } from './helpers/redis-server';

describe('replicated collections: cold start (issue 18)', function () {
  this.timeout(60000);
  const clients: MemisClient[] = [];
  let own: RedisServer | undefined;
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => undefined)));
    await own?.stop();
    own = undefined;
  });

  it('loads 5,000 items with 4 commands (a first window of 16, then windows of 2,000), each item whole', async () => {
    own = await RedisServer.start();
    const raw = createRedis({ url: own.url });
    raw.on('error', () => undefined);
    await raw.connect();
    const writer = Pack.createClient(own.url);
    clients.push(writer);
    const w = writer.database('cold').collection('c');
    for (let i = 0; i < 5000; i += 500)
      await Promise.all(Array.from({ length: 500 }, (_, j) => w.set(`k${i + j}`, { i: i + j, s: `v${i + j}` })));
    await w.set('ttl', { t: true }, 3600);
    const calls = async () => {
      const out: Record<string, number> = {};
      for (const m of (await raw.info('commandstats')).matchAll(/^cmdstat_(\w+):calls=(\d+)/gm))
        out[m[1]!] = Number(m[2]);
      return out;
    };
    const before = await calls();
    const reader = Pack.createClient(own.url, { syncInterval: 60000 });
    clients.push(reader);
    const c = reader.database('cold').collection('c');
    await c.subscribe();
    const after = await calls();
    const delta = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
    assert.equal(c.size, 5001);
    assert.deepEqual(c.get('k4321'), { i: 4321, s: 'v4321' });
    const ttl = c.entry('ttl');
    assert.ok(ttl && ttl.expiresAt !== null && ttl.expiresAt > Date.now(), 'the deadline is read with the item');
    // A first window of 16 (its bytes size the rest), then windows of 2,000: 16 + 2,000 + 2,000 + 985.
    assert.equal(delta('mget'), 4, 'one MGET per window');
    assert.equal(delta('eval') + delta('evalsha'), 0, 'no script: every item was a string');
    assert.equal(delta('hgetall') + delta('get'), 0, 'no command per item');
    raw.destroy();
  });
});
