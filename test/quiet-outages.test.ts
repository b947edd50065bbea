import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import Pack from '../index';
import { ErrorCodes } from '../lib/errors';
import type { MemisClient } from '../lib/facade-types';
import { sleep, until } from './helpers/events';
import { PASSWORD, RedisServer } from './helpers/redis-server';

describe('quiet outages: one error event and one restored event per client (issue 18)', function () {
  this.timeout(60000);
  let srv: RedisServer;
  before(async () => {
    srv = await RedisServer.start({ args: ['--requirepass', PASSWORD] });
  });
  after(() => srv.stop());

  it('SIGKILL, restart 1 s later on the same port: each of 6 clients sees exactly one error and one restored', async () => {
    const N = 6;
    const url = srv.url.replace('redis://', `redis://:${encodeURIComponent(PASSWORD)}@`);
    const clients: MemisClient[] = [];
    const errors: Error[][] = [];
    const restored: unknown[][] = [];
    for (let i = 0; i < N; i++) {
      const client = Pack.createClient(url, { syncInterval: 200, retryDelay: 200 });
      const mine: Error[] = [];
      const back: unknown[] = [];
      client.on('error', (err) => void mine.push(err));
      client.on('restored', (info) => void back.push(info));
      clients.push(client);
      errors.push(mine);
      restored.push(back);
      // Both of the client's connections in use: a command connection and a subscriber connection.
      const col = client.database('d').collection('c');
      await col.subscribe();
      await col.set(`k${i}`, { i });
    }
    srv.signal('SIGKILL');
    await until(() => errors.every((e) => e.length > 0), 'every client reported the outage');
    await sleep(1000);
    await srv.restart();
    await until(() => restored.every((r) => r.length > 0), 'every client reported the end of the outage', 15000);
    // Commands work again, and nothing more is reported for a while (late retries, catch-ups).
    for (let i = 0; i < N; i++) await clients[i]!.database('d').collection('c').set(`after${i}`, { i });
    await sleep(1000);
    for (let i = 0; i < N; i++) {
      assert.equal(errors[i]!.length, 1, `client ${i}: ${errors[i]!.map((e) => e.message).join(' | ')}`);
      assert.equal(restored[i]!.length, 1, `client ${i}: ${restored[i]!.length} restored events`);
      const err = errors[i]![0] as Error & { code?: string; cause?: unknown; address?: string };
      assert.equal(err.code, ErrorCodes.CONNECTION_LOST);
      assert.ok(err.cause instanceof Error, 'the cause is attached');
      assert.ok(err.address?.endsWith(`127.0.0.1:${srv.port}`), `address ${err.address}`);
      assert.ok(err.message.includes(err.address!), err.message);
      for (const text of [err.message, inspect(err), JSON.stringify(restored[i]![0])])
        assert.ok(!text.includes(PASSWORD) && !text.includes(encodeURIComponent(PASSWORD)), text);
      const info = restored[i]![0] as { downMs: number; failures: number; address: string };
      assert.ok(info.downMs >= 900, `down for ${info.downMs} ms`);
      assert.ok(info.failures >= 1, `${info.failures} failures counted`);
      assert.equal(info.address, err.address);
    }
    await Promise.all(clients.map((c) => c.quit()));
  });

  it('calls made during the outage still reject (no failure a caller awaits is lost)', async () => {
    const url = srv.url.replace('redis://', `redis://:${encodeURIComponent(PASSWORD)}@`);
    const client = Pack.createClient(url, { connectTimeout: 500 });
    const seen: Error[] = [];
    client.on('error', (e) => void seen.push(e));
    const col = client.database('d').collection('c');
    await col.set('x', { a: 1 });
    srv.signal('SIGKILL');
    await until(() => seen.length > 0, 'the outage was reported');
    const during = await col.set('y', { a: 2 }).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    assert.ok(during instanceof Error, 'the write made during the outage rejected');
    assert.equal(during.code, ErrorCodes.BAD_CONNECTION);
    await srv.restart();
    await until(
      () =>
        col.set('z', { a: 3 }).then(
          () => true,
          () => false,
        ),
      'writes work again',
    );
    await client.quit();
  });
});
