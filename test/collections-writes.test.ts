/**
 * Revisions, conditional writes and atomic batches (issue 16, items 1–3), against a private redis-server, with
 * writers and subscribers in other processes.
 */
import assert from 'node:assert/strict';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { ChangeInfo, MemisClient } from '../index';
import { until } from './helpers/events';
import { RedisServer } from './helpers/redis-server';

describe('collection writes: revisions', () => {
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

  it('set resolves with the new revision; entry() and listeners see it; it grows with every write', async () => {
    const pub = client().database('rev').collection<{ n: number }>('c');
    const sub = client().database('rev').collection<{ n: number }>('c');
    const seen: Array<[string, string, number, ChangeInfo]> = [];
    sub.multi('set delete expire', (key, data, info) => seen.push([info.event, key, data.n, info]));
    await sub.subscribe();
    assert.equal(sub.entry('a'), undefined);
    const r1 = await pub.set('a', { n: 1 });
    assert.equal(typeof r1, 'number');
    assert.ok(r1 >= 1);
    const r2 = await pub.set('a', { n: 2 }, 60);
    assert.ok(r2 > r1, `${r2} > ${r1}`);
    // The revision stored in Redis is the one set resolved with.
    assert.equal(await raw.hGet('memis:{rev/c}:i:a', 'm:seq'), String(r2));
    await until(() => sub.get('a')?.n === 2, 'the second write');
    const e = sub.entry('a')!;
    assert.deepEqual(e.data, { n: 2 });
    assert.equal(e.revision, r2);
    const pttl = await raw.pTTL('memis:{rev/c}:i:a');
    assert.equal(typeof e.expiresAt, 'number');
    // expiresAt: epoch ms on Redis's clock (the same machine's clock here), when the key's TTL runs out.
    assert.ok(Math.abs(e.expiresAt! - (Date.now() + pttl)) < 2000, `${e.expiresAt} vs ${Date.now() + pttl}`);
    const r3 = await pub.set('b', { n: 3 });
    await until(() => sub.entry('b') !== undefined, 'b');
    assert.equal(sub.entry('b')!.expiresAt, null);
    assert.equal(sub.entry('b')!.revision, r3);
    assert.equal(await pub.del('a'), true);
    await until(() => sub.entry('a') === undefined, 'the delete');
    assert.deepEqual(
      seen.map(([ev, key, n, info]) => [ev, key, n, info.revision]),
      [
        ['set', 'a', 1, r1],
        ['set', 'a', 2, r2],
        ['set', 'b', 3, r3],
        ['delete', 'a', 2, r2], // the revision of the last copy held, like `data`
      ],
    );
  });

  it('a late joiner loads the revisions stored in Redis', async () => {
    const pub = client().database('rev').collection<{ n: number }>('late');
    const r = await pub.set('x', { n: 1 });
    const late = client().database('rev').collection<{ n: number }>('late');
    const infos: ChangeInfo[] = [];
    late.on('set', (_k, _d, info) => infos.push(info));
    await late.subscribe();
    assert.equal(late.entry('x')!.revision, r);
    assert.deepEqual(
      infos.map((i) => i.revision),
      [r],
    );
  });
});
