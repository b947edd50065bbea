import assert from 'node:assert/strict';
import Pack from '../index';
import type { UnexpectedFailure } from '../index';
import { RedisServer } from './helpers/redis-server';

describe('a server that crashes while a connection is in use', () => {
  let srv: RedisServer;
  before(async () => {
    srv = await RedisServer.start();
  });
  after(() => srv.stop());

  for (const faceName of ['runner', 'promises'] as const) {
    it(`reports to onUnexpectedFailure and the connection works again after a restart (${faceName})`, async () => {
      const failures: UnexpectedFailure[] = [];
      const { manager } = await Pack.promises.createManager({
        connectionString: srv.url,
        onUnexpectedFailure: (e) => failures.push(e),
      });
      const { connection } =
        faceName === 'runner' ? await Pack.getConnection({ manager }) : await Pack.promises.getConnection({ manager });
      await Pack.promises.cacheValue({ connection, key: 'before', value: 1 });

      const lost = new Promise<UnexpectedFailure>((resolve) => {
        const check = setInterval(() => {
          const end = failures.find((f) => f.failureType === 'end');
          if (end) {
            clearInterval(check);
            resolve(end);
          }
        }, 10);
      });
      srv.signal('SIGKILL');
      const end = await lost;
      assert.equal(end.connection, connection);
      assert.ok(failures.some((f) => f.failureType === 'error' && f.originalError instanceof Error));

      // While down: a declared outcome, not a hang.
      const during = await Pack.promises
        .getCachedValue({ connection, key: 'before' })
        .catch((e: { exit?: string }) => e.exit);
      assert.equal(during, 'badConnection');

      // Sails' pattern: wait for `ready` on the reported connection.
      const back = new Promise((resolve) => end.connection.once('ready', resolve));
      await srv.restart();
      await back;
      await Pack.promises.cacheValue({ connection, key: 'after', value: 2 });
      assert.deepEqual(await Pack.promises.getCachedValue({ connection, key: 'after' }), { value: 2 });
      await Pack.promises.destroyManager({ manager });
    });
  }

  it('a throwing onUnexpectedFailure does not crash the process', async () => {
    const { manager } = await Pack.promises.createManager({
      connectionString: srv.url,
      onUnexpectedFailure: () => {
        throw new Error('handler bug');
      },
    });
    const { connection } = await Pack.promises.getConnection({ manager });
    const warned = new Promise((resolve) => process.once('warning', resolve));
    srv.signal('SIGKILL');
    await warned;
    const back = new Promise((resolve) => connection.once('ready', resolve));
    await srv.restart();
    await back;
    assert.equal(await connection.ping(), 'PONG');
    await Pack.promises.destroyManager({ manager });
  });
});
