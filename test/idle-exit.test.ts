/**
 * Which connections keep the process alive. Sails' session hook never closes the connection it hands to
 * connect-redis, so an app using it did not exit after `sails.lower()`: a session config's connections let the
 * process exit while no command of theirs is waiting. Every other connection (and a subscribed one) keeps it alive.
 */
import assert from 'node:assert/strict';
import { runChild } from './helpers/child';
import { RedisServer } from './helpers/redis-server';

/**
 * Runs `body` (JavaScript, with `Pack`, `URL_` and `SESSION` (a Sails session config) in scope) in a child
 * process. Resolves with what it printed and whether it exited by itself within `waitMs` of printing DONE.
 */
async function child(body: string, url: string, waitMs: number): Promise<{ out: string; exitedAlone: boolean }> {
  // legacyMode: the v3-style client Sails gets (it loads the package as machinepack-redis; this child does not).
  const prelude = `const SESSION = { secret: 'eco-session-secret', cookie: { maxAge: 60000 }, name: 'sails.sid', legacyMode: true };`;
  const { out, killed } = await runChild(body, url, { prelude, waitMs });
  return { out, exitedAlone: !killed && out.includes('DONE') };
}

/** Sails' session hook, as it connects (lib/hooks/session/index.js of sails 1.5): the runner face, callbacks. */
const SAILS_SESSION_CONNECT = `
  const client = await new Promise((resolve, reject) =>
    Pack.createManager({ connectionString: URL_, meta: SESSION, onUnexpectedFailure() {} }).exec((err, r) => {
      if (err) return reject(err);
      Pack.getConnection({ manager: r.manager }).switch({
        error: reject,
        failed: (report) => reject(report.error),
        success: (result) => resolve(result.connection),
      });
    }),
  );
  const call = (name, ...args) =>
    new Promise((resolve, reject) => client[name](...args, (err, v) => (err ? reject(err) : resolve(v))));
`;

describe('idle connections and process exit', function () {
  this.timeout(90000);
  let srv: RedisServer;
  before(async () => {
    srv = await RedisServer.start();
  });
  after(() => srv.stop());

  it("a Sails session store's connection, idle, lets the process exit (connect-redis's commands first complete)", async () => {
    const r = await child(
      `${SAILS_SESSION_CONNECT}
      await call('set', 'sess:x', JSON.stringify({ n: 1 }), 'EX', '60');
      console.log('GOT ' + (await call('get', 'sess:x')));
      // A command still waiting when the code is done: it completes before the process goes.
      client.blpop('sess:none', '1', (err, v) => console.log('BLPOP ' + (err ? err.message : String(v))));
      `,
      srv.url,
      15000,
    );
    assert.match(r.out, /GOT \{"n":1\}/);
    assert.equal(r.exitedAlone, true, `the process did not exit by itself:\n${r.out}`);
    assert.match(r.out, /BLPOP null/, 'the command waiting was answered before the exit');
  });

  it('a session connection that subscribes, a subscriber, and a plain connection keep the process alive', async () => {
    for (const body of [
      `${SAILS_SESSION_CONNECT}
      await call('set', 'sess:y', '1');
      await new Promise((resolve) => client.subscribe('ch', resolve));`,
      `const c = Pack.createClient(URL_);
      await c.database('d').collection('c').subscribe();`,
      `const { manager } = await Pack.promises.createManager({ connectionString: URL_ });
      const { connection } = await Pack.promises.getConnection({ manager });
      await Pack.promises.cacheValue({ connection, key: 'plain', value: 1 });`,
    ]) {
      const r = await child(body, srv.url, 3000);
      assert.ok(r.out.includes('DONE'), r.out);
      assert.equal(r.exitedAlone, false, `the process exited (it must stay alive):\n${body}`);
    }
  });

  it('released (or its manager destroyed) in the turn its hung call was cut: no socket of the reset lives on', async () => {
    // The cut resets the connection: node-redis's destroy(), then connect() at once. A release in the same turn (a
    // Sails callback releasing its leased connection on the error) found no socket to close (still connecting):
    // once connected it ran its handshake on the released client and kept the process alive for good.
    const hung = await RedisServer.start();
    try {
      for (const release of [
        'await Pack.promises.releaseConnection({ connection })',
        'await Pack.promises.destroyManager({ manager })',
      ]) {
        const body = `
          const { manager } = await Pack.promises.createManager({ connectionString: URL_, meta: { commandTimeout: 300 } });
          const { connection } = await Pack.promises.getConnection({ manager });
          console.log('STOP');
          await new Promise((resolve) => setTimeout(resolve, 200));
          const e = await Pack.promises.getCachedValue({ connection, key: 'a' }).then(() => undefined, (err) => err);
          ${release};
          console.log('CUT ' + (e && e.raw && e.raw.error && e.raw.error.code));
          await new Promise((resolve) => setTimeout(resolve, 500));`;
        let stopped = false;
        const { out, killed } = await runChild(body, hung.url, {
          waitMs: 5000,
          onOutput: (o) => {
            if (!stopped && o.includes('STOP')) {
              stopped = true;
              hung.signal('SIGSTOP');
            }
            if (o.includes('CUT')) hung.signal('SIGCONT'); // the server answers again: the socket would connect
          },
        });
        hung.signal('SIGCONT');
        assert.match(out, /CUT E_REDIS_NO_REPLY/, out);
        assert.ok(out.includes('DONE'), out);
        assert.equal(killed, false, `the process did not exit by itself after: ${release}`);
      }
    } finally {
      hung.signal('SIGCONT');
      await hung.stop();
    }
  });
});
