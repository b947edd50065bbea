import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { FaultProxy } from './helpers/proxy';
import { runChild } from './helpers/child';
import { RedisServer } from './helpers/redis-server';

/**
 * Runs `body` (JavaScript, with `Pack` and `URL_` in scope) in a child process and resolves with what it printed
 * and how it ended. The child is killed if it has not exited 20 s after `body` finished: a process that does not
 * exit by itself keeps something open.
 */
function child(
  body: string,
  url: string,
  onOutput: (out: string) => void = () => undefined,
): Promise<{ out: string; code: number | null; killed: boolean }> {
  return runChild(body, url, { onOutput });
}

/** Clients connected to the server, not counting the one asking. */
async function clientCount(port: number): Promise<number> {
  const admin = createClient({ url: `redis://127.0.0.1:${port}` });
  await admin.connect();
  const list = await admin.sendCommand<string>(['CLIENT', 'LIST']);
  await admin.close();
  return list.trim().split('\n').length - 1;
}

async function settleTo(port: number, n: number): Promise<number> {
  let count = await clientCount(port);
  for (let i = 0; i < 100 && count !== n; i++) {
    await new Promise((r) => setTimeout(r, 50));
    count = await clientCount(port);
  }
  return count;
}

describe('destroyManager and quit() win every race', function () {
  this.timeout(60000);
  let srv: RedisServer;
  let proxy: FaultProxy;
  before(async () => {
    srv = await RedisServer.start();
  });
  after(() => srv.stop());
  beforeEach(async () => {
    proxy = await FaultProxy.start({ target: srv.port });
  });
  afterEach(() => proxy.stop());

  it('getConnection calls in flight when destroyManager runs fail with E_MANAGER_DESTROYED; nothing stays open; the process exits', async () => {
    // The proxy holds the handshakes, so the connects are in flight when the manager is destroyed.
    proxy.stall();
    const run = child(
      `
      const { manager } = await Pack.promises.createManager({ connectionString: URL_ });
      const calls = [1, 2, 3].map(() => Pack.promises.getConnection({ manager }).then(
        () => 'success', (e) => e.raw && e.raw.error ? e.raw.error.code : String(e)));
      await new Promise((r) => setTimeout(r, 300));
      await Pack.promises.destroyManager({ manager });
      console.log('OUTCOMES ' + JSON.stringify(await Promise.all(calls)) + ' ' + manager.connections.size);
      `,
      proxy.url,
      // Once it reported, whatever the child still holds may complete its handshake: nothing should.
      (out) => out.includes('OUTCOMES') && proxy.pass(),
    );
    const { out, code, killed } = await run;
    assert.equal(killed, false, `the process did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /OUTCOMES \["E_MANAGER_DESTROYED","E_MANAGER_DESTROYED","E_MANAGER_DESTROYED"\] 0/);
    assert.equal(await settleTo(srv.port, 0), 0);
  });

  it('a call in flight when destroyManager runs settles with a declared exit; the process exits', async () => {
    const run = child(
      `
      const { manager } = await Pack.promises.createManager({ connectionString: URL_ });
      const { connection } = await Pack.promises.getConnection({ manager });
      console.log('CONNECTED');
      await new Promise((r) => setTimeout(r, 300));
      const call = Pack.promises.getCachedValue({ connection, key: 'k' }).then(() => 'success', (e) => e.exit || String(e));
      await new Promise((r) => setTimeout(r, 200));
      await Pack.promises.destroyManager({ manager });
      console.log('OUTCOME ' + (await call));
      `,
      proxy.url,
      // Stall once connected, so the call waits for a reply that is held.
      (out) => out.includes('CONNECTED') && proxy.stall(),
    );
    const { out, code, killed } = await run;
    proxy.pass();
    assert.equal(killed, false, `the process did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /OUTCOME (badConnection|notFound)/);
    assert.equal(await settleTo(srv.port, 0), 0);
  });

  it('a facade set() in flight when quit() is called rejects or resolves, leaves no connection, and the process exits', async () => {
    proxy.stall();
    const run = child(
      `
      const client = Pack.createClient(URL_, { connectTimeout: 10000 });
      const col = client.database('d').collection('c');
      const writes = [1, 2].map((i) => col.set('k' + i, { i }).then(() => 'ok', (e) => e.code));
      await new Promise((r) => setTimeout(r, 300));
      await client.quit();
      console.log('OUTCOMES ' + JSON.stringify(await Promise.all(writes)));
      `,
      proxy.url,
      (out) => out.includes('OUTCOMES') && proxy.pass(),
    );
    const { out, code, killed } = await run;
    assert.equal(killed, false, `the process did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /OUTCOMES \["E_CLIENT_QUIT","E_CLIENT_QUIT"\]/);
    assert.equal(await settleTo(srv.port, 0), 0);
  });
});
