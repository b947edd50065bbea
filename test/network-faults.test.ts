import assert from 'node:assert/strict';
import Pack from '../index';
import { ErrorCodes } from '../lib/errors';
import { FaultProxy } from './helpers/proxy';
import { freePort, server } from './helpers/redis-server';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('connections through a faulty network', function () {
  this.timeout(60000);
  let proxy: FaultProxy;
  beforeEach(async () => {
    proxy = await FaultProxy.start({ target: (await server('plain')).port });
  });
  afterEach(() => proxy.stop());

  it('after a black hole heals, machine calls work again (the reconnect handshake is bounded)', async () => {
    const { manager } = await Pack.promises.createManager({
      connectionString: proxy.url,
      meta: { commandTimeout: 1000 },
    });
    const { connection } = await Pack.promises.getConnection({ manager });
    await Pack.promises.cacheValue({ connection, key: 'bh', value: 1 });
    proxy.blackHole();
    const lost = await Pack.promises.getCachedValue({ connection, key: 'bh' }).catch((e: { exit: string }) => e);
    assert.equal((lost as { exit: string }).exit, 'badConnection');
    await sleep(1500); // the reset reconnects into the hole: that connection's handshake never answers
    proxy.pass();
    let value: unknown;
    for (let i = 0; i < 150 && value === undefined; i++) {
      value = await Pack.promises
        .getCachedValue({ connection, key: 'bh' })
        .then((r) => r.value)
        .catch(() => undefined);
      if (value === undefined) await sleep(100);
    }
    assert.equal(value, 1, 'calls succeed again after the network healed');
    await Pack.promises.destroyManager({ manager });
  });

  it('durations past 2^31 ms are clamped: getConnection({ timeout: 2 ** 31 }) and commandTimeout 2 ** 40 work', async () => {
    const { manager } = await Pack.promises.createManager({
      connectionString: proxy.url,
      meta: { commandTimeout: 2 ** 40 },
    });
    const { connection } = await Pack.promises.getConnection({ manager, timeout: 2 ** 31 });
    await Pack.promises.cacheValue({ connection, key: 'long', value: 'x' });
    assert.equal((await Pack.promises.getCachedValue({ connection, key: 'long' })).value, 'x');
    await Pack.promises.destroyManager({ manager });
    const client = Pack.createClient(proxy.url, { connectTimeout: 2 ** 40, retryDelay: 2 ** 33 });
    await client.database('d').collection('long').set('k', { a: 1 });
    await client.quit();
  });

  it('a refused connection during a collection set is "unreachable" (E_BAD_CONNECTION), not Redis refusing the write', async () => {
    const client = Pack.createClient(`redis://127.0.0.1:${await freePort()}`, { connectTimeout: 2000 });
    const err = (await client
      .database('d')
      .collection('c')
      .set('k', { a: 1 })
      .catch((e: Error) => e)) as Error & { code: string };
    assert.equal(err.code, ErrorCodes.BAD_CONNECTION);
    assert.match(err.message, /unreachable/);
    assert.doesNotMatch(err.message, /refused it/);
    await client.quit();
  });

  it('a value whose toJSON() returns undefined is a usage error naming the key (cacheValue and collection set)', async () => {
    const { manager } = await Pack.promises.createManager({ connectionString: proxy.url });
    const { connection } = await Pack.promises.getConnection({ manager });
    const value = { toJSON: () => undefined };
    const err = (await Pack.promises.cacheValue({ connection, key: 'tj', value }).catch((e: Error) => e)) as Error;
    assert.ok(err instanceof Error);
    assert.match(err.message, /"tj".*toJSON\(\) returned undefined/s);
    await Pack.promises.destroyManager({ manager });
    const client = Pack.createClient(proxy.url);
    const err2 = (await client
      .database('d')
      .collection('c')
      .set('item', { f: value } as never)
      .catch((e: Error) => e)) as Error & { code: string };
    assert.equal(err2.code, ErrorCodes.INVALID_INPUT);
    assert.match(err2.message, /"item".*"f".*toJSON\(\) returned undefined/);
    await client.quit();
  });

  it("off('__proto__', fn) is harmless: no TypeError from inside the emitter", () => {
    const client = Pack.createClient(proxy.url);
    const col = client.database('d').collection('c');
    let thrown: unknown;
    try {
      (col as unknown as { off(e: string, f: () => void): unknown }).off('__proto__', () => undefined);
    } catch (err) {
      thrown = err;
    }
    if (thrown !== undefined) assert.match(String(thrown), /__proto__/);
    assert.doesNotMatch(String(thrown), /indexOf is not a function/);
    void client.quit();
  });
});
