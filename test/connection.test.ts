import assert from 'node:assert/strict';
import net from 'node:net';
import { inspect } from 'node:util';
import Pack from '../index';
import type { Manager } from '../index';
import { connect } from './helpers/connect';
import { faces, outcome } from './helpers/faces';
import { freePort, PASSWORD, server } from './helpers/redis-server';

/** A TCP server that accepts connections and never answers: a hung Redis. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

for (const face of faces) {
  describe(`connection machines through ${face.name}`, () => {
    let url: string;
    let passwordPort: number;
    before(async () => {
      url = (await server('plain')).url;
      passwordPort = (await server('password')).port;
    });

    describe('createManager', () => {
      it('succeeds with a manager for redis://, rediss:// and unix:// URLs', async () => {
        for (const connectionString of [url, 'rediss://h:1', 'unix:///tmp/redis.sock', 'redis://u:p@h:1/3']) {
          const r = await outcome(face.call('createManager', { connectionString }));
          assert.equal(r.exit, 'success', connectionString);
          await face.call('destroyManager', { manager: (r.output as { manager: Manager }).manager });
        }
      });
      for (const connectionString of [
        'http://h:1',
        'not a url',
        'redis://h:1/abc',
        ' ',
        'mysql://user:hunter22@h/db',
      ]) {
        it(`exits malformed for ${JSON.stringify(connectionString)}, without the password`, async () => {
          const r = await outcome(face.call('createManager', { connectionString }));
          assert.equal(r.exit, 'malformed');
          const { error } = r.raw as { error: Error };
          assert.ok(error instanceof Error);
          assert.doesNotMatch(error.message, /hunter22/);
          assert.doesNotMatch(r.error!.message, /hunter22/);
        });
      }
      it('gives an error when meta is not a dictionary', async () => {
        for (const meta of ['x', [1], 5, () => 1]) {
          const r = await outcome(face.call('createManager', { connectionString: url, meta }));
          assert.equal(r.exit, 'error');
          assert.match(r.error!.message, /`meta` must be a dictionary/);
        }
      });
      it('masks the password in inspect and JSON of the manager', async () => {
        const { manager } = await face.call('createManager', {
          connectionString: 'redis://user:hunter22@h:1',
          meta: { password: 'other-secret' },
        });
        for (const text of [inspect(manager, { depth: 10, showHidden: true }), JSON.stringify(manager)]) {
          assert.doesNotMatch(text, /hunter22|other-secret/);
          assert.match(text, /user:\*\*\*@h:1/);
        }
      });
    });

    describe('getConnection', () => {
      it('exits success with a ready connection', async () => {
        const { manager } = await face.call('createManager', { connectionString: url });
        const r = await outcome(face.call('getConnection', { manager }));
        assert.equal(r.exit, 'success');
        const { connection } = r.output as { connection: { ping(): Promise<string> } };
        assert.equal(await connection.ping(), 'PONG');
        await face.call('destroyManager', { manager });
      });
      it('exits failed with ECONNREFUSED at once when nothing listens', async () => {
        const { manager } = await face.call('createManager', {
          connectionString: `redis://127.0.0.1:${await freePort()}`,
        });
        const started = Date.now();
        const r = await outcome(face.call('getConnection', { manager, timeout: 10000 }));
        assert.equal(r.exit, 'failed');
        assert.equal((r.raw as { error: { code: string } }).error.code, 'ECONNREFUSED');
        assert.ok(Date.now() - started < 5000, 'did not wait for the timeout');
        assert.equal(manager.connections.size, 0);
      });
      it('exits failed with E_REDIS_CONNECTION_TIMED_OUT when the server never answers', async () => {
        const silent = await silentServer();
        const { manager } = await face.call('createManager', { connectionString: `redis://127.0.0.1:${silent.port}` });
        const r = await outcome(face.call('getConnection', { manager, timeout: 300 }));
        assert.equal(r.exit, 'failed');
        assert.equal((r.raw as { error: { code: string } }).error.code, 'E_REDIS_CONNECTION_TIMED_OUT');
        await silent.close();
      });
      it('exits failed with ERR_BAD_PASSWORD for a wrong password', async () => {
        const { manager } = await face.call('createManager', {
          connectionString: `redis://:wrong-one@127.0.0.1:${passwordPort}`,
        });
        const r = await outcome(face.call('getConnection', { manager }));
        assert.equal(r.exit, 'failed');
        const { error } = r.raw as { error: Error & { code: string } };
        assert.equal(error.code, 'ERR_BAD_PASSWORD');
        assert.doesNotMatch(error.message + inspect(error), /wrong-one/);
      });
      it('exits failed with ERR_NO_PASSWORD when the server needs one and none is given', async () => {
        const { manager } = await face.call('createManager', { connectionString: `redis://127.0.0.1:${passwordPort}` });
        const r = await outcome(face.call('getConnection', { manager }));
        assert.equal(r.exit, 'failed');
        assert.equal((r.raw as { error: { code: string } }).error.code, 'ERR_NO_PASSWORD');
      });
      it('connects with a URL-encoded password containing @ / # :', async () => {
        const connectionString = Pack.createConnectionUrl({ port: passwordPort, pass: PASSWORD }).now();
        const { manager } = await face.call('createManager', { connectionString });
        const { connection } = await face.call('getConnection', { manager });
        assert.equal(await connection.ping(), 'PONG');
        assert.doesNotMatch(inspect(connection, { depth: 5 }) + inspect(manager) + JSON.stringify(manager), /s3cret/);
        await face.call('destroyManager', { manager });
      });
      it('exits failed for a destroyed manager and for something that is not a manager', async () => {
        const { manager } = await face.call('createManager', { connectionString: url });
        await face.call('destroyManager', { manager });
        assert.match((await outcome(face.call('getConnection', { manager }))).error!.message, /destroyed/);
        const r = await outcome(face.call('getConnection', { manager: { connectionString: url } }));
        assert.equal(r.exit, 'failed');
        assert.equal((r.raw as { error: { code: string } }).error.code, 'E_BAD_MANAGER');
      });
      it('selects the database named in the URL', async () => {
        const { manager, connection } = await connect(`${url}/5`);
        await face.call('cacheValue', { connection, key: 'in-db-5', value: 5 });
        const other = await connect(`${url}/0`);
        assert.equal(
          (await outcome(face.call('getCachedValue', { connection: other.connection, key: 'in-db-5' }))).exit,
          'notFound',
        );
        await face.call('destroyManager', { manager });
        await face.call('destroyManager', { manager: other.manager });
      });
    });

    describe('releaseConnection and destroyManager', () => {
      it('release closes the connection and forgets it; a second release exits badConnection', async () => {
        const { manager, connection } = await connect(url);
        assert.equal(manager.connections.size, 1);
        assert.equal((await outcome(face.call('releaseConnection', { connection }))).exit, 'success');
        assert.equal(connection.isOpen, false);
        assert.equal(manager.connections.size, 0);
        assert.equal((await outcome(face.call('releaseConnection', { connection }))).exit, 'badConnection');
        await face.call('destroyManager', { manager });
      });
      it('release exits badConnection for something that is not a connection', async () => {
        for (const connection of [{}, 'x', 1]) {
          assert.equal((await outcome(face.call('releaseConnection', { connection }))).exit, 'badConnection');
        }
      });
      it('destroyManager closes every connection and can be called twice', async () => {
        const { manager } = await face.call('createManager', { connectionString: url });
        const conns = [
          (await face.call('getConnection', { manager })).connection,
          (await face.call('getConnection', { manager })).connection,
        ];
        assert.equal((await outcome(face.call('destroyManager', { manager }))).exit, 'success');
        assert.ok(conns.every((c: { isOpen: boolean }) => !c.isOpen));
        assert.equal((await outcome(face.call('destroyManager', { manager }))).exit, 'success');
      });
      it('destroyManager exits failed for something that is not a manager', async () => {
        assert.equal((await outcome(face.call('destroyManager', { manager: {} }))).exit, 'failed');
      });
    });

    describe('authenticate', () => {
      let admin: { manager: Manager; connection: Awaited<ReturnType<typeof connect>>['connection'] };
      before(async () => {
        admin = await connect(url);
        await admin.connection.sendCommand([
          'ACL',
          'SETUSER',
          'reader',
          'on',
          '>reader-pw',
          '~*',
          '+@read',
          '+auth',
          '+hello',
          '+ping',
          '+client',
          '+acl|whoami',
        ]);
      });
      after(() => face.call('destroyManager', { manager: admin.manager }));

      it('succeeds for a good ACL user and password', async () => {
        const { manager, connection } = await connect(url);
        assert.equal(
          (await outcome(face.call('authenticate', { connection, username: 'reader', password: 'reader-pw' }))).exit,
          'success',
        );
        assert.equal(await connection.aclWhoAmI(), 'reader');
        await face.call('destroyManager', { manager });
      });
      it('exits failed with ERR_BAD_PASSWORD for a wrong password', async () => {
        const { manager, connection } = await connect(url);
        const r = await outcome(face.call('authenticate', { connection, username: 'reader', password: 'nope' }));
        assert.equal(r.exit, 'failed');
        assert.equal((r.raw as { error: { code: string } }).error.code, 'ERR_BAD_PASSWORD');
        await face.call('destroyManager', { manager });
      });
      it('exits badConnection for something that is not a connection', async () => {
        assert.equal(
          (await outcome(face.call('authenticate', { connection: {}, password: 'x' }))).exit,
          'badConnection',
        );
      });
      it('an ACL user lacking a permission gets a declared outcome naming it', async () => {
        const { manager, connection } = await connect(`redis://reader:reader-pw@127.0.0.1:${new URL(url).port}`);
        const write = await outcome(face.call('cacheValue', { connection, key: 'acl', value: 1 }));
        assert.equal(write.exit, 'error');
        assert.match(write.error!.message, /NOPERM/);
        const del = await outcome(face.call('destroyCachedValues', { connection, keys: ['acl'] }));
        assert.equal(del.exit, 'failed');
        assert.match((del.raw as { error: Error }).error.message, /NOPERM/);
        await face.call('destroyManager', { manager });
      });
    });
  });
}
