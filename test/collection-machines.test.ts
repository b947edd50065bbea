import assert from 'node:assert/strict';
import Pack from '../index';
import type { Connection, Manager, Replica } from '../index';
import { ErrorCodes } from '../lib/errors';
import { connect } from './helpers/connect';
import { until } from './helpers/events';
import { faces, outcome } from './helpers/faces';
import { RedisServer } from './helpers/redis-server';

for (const face of faces) {
  describe(`collection machines through ${face.name}`, () => {
    let srv: RedisServer;
    let manager: Manager;
    let connection: Connection;
    let subscriber: Connection;
    before(async () => {
      srv = await RedisServer.start({ args: ['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction'] });
      ({ manager, connection } = await connect(srv.url));
      subscriber = (await Pack.promises.getConnection({ manager })).connection;
    });
    after(async () => {
      await Pack.promises.destroyManager({ manager });
      await srv.stop();
    });

    it('setItem → subscribeCollection → deleteItem', async () => {
      const set = await outcome(
        face.call('setItem', { connection, database: 'm', collection: 'c', key: 'k', data: { a: 1 }, ttl: 60 }),
      );
      assert.equal(set.exit, 'success');
      assert.equal((set.output as { seq: number }).seq, 1);
      const changes: string[] = [];
      const sub = await outcome(
        face.call('subscribeCollection', {
          connection,
          subscriber,
          database: 'm',
          collection: 'c',
          onChange: (t: string, k: string) => changes.push(`${t}:${k}`),
        }),
      );
      assert.equal(sub.exit, 'success');
      const subscription = (sub.output as { subscription: Replica }).subscription;
      assert.deepEqual(changes, ['set:k']);
      assert.deepEqual(subscription.get('k'), { a: 1 });
      const del = await outcome(face.call('deleteItem', { connection, database: 'm', collection: 'c', key: 'k' }));
      assert.deepEqual(del.output, { deleted: true });
      await until(() => changes.length === 2, 'the delete');
      assert.deepEqual(changes, ['set:k', 'delete:k']);
      assert.deepEqual(
        (await outcome(face.call('deleteItem', { connection, database: 'm', collection: 'c', key: 'k' }))).output,
        { deleted: false },
      );
      await subscription.end();
      await subscription.end();
    });

    it('exits failed with E_COLLECTION_LOAD_FAILED when Redis refuses the load, subscribing to nothing', async () => {
      const collection = `wrongtype-${face.name.replace(/\W/g, '')}`;
      // Another program took the collection's meta key for a string: every read of it is a WRONGTYPE reply.
      await connection.set(`memis:{m/${collection}}:meta`, 'not a hash');
      const changes: string[] = [];
      const r = await outcome(
        face.call('subscribeCollection', {
          connection,
          subscriber,
          database: 'm',
          collection,
          onChange: (t: string, k: string) => changes.push(`${t}:${k}`),
        }),
      );
      assert.equal(r.exit, 'failed');
      const error = (r.raw as { error: Error & { code?: string } }).error;
      assert.equal(error.code, ErrorCodes.LOAD_FAILED);
      assert.match(error.message, new RegExp(`Could not load collection "${collection}": .*WRONGTYPE`));
      assert.deepEqual(changes, []);
    });

    it('exit badConnection for connections that are not ours or released', async () => {
      assert.equal(
        (await outcome(face.call('setItem', { connection: {}, database: 'm', collection: 'c', key: 'k', data: {} })))
          .exit,
        'badConnection',
      );
      assert.equal(
        (await outcome(face.call('deleteItem', { connection: {}, database: 'm', collection: 'c', key: 'k' }))).exit,
        'badConnection',
      );
      const r = await outcome(
        face.call('subscribeCollection', {
          connection,
          subscriber: {},
          database: 'm',
          collection: 'c',
          onChange: () => undefined,
        }),
      );
      assert.equal(r.exit, 'badConnection');
      assert.match((r.raw as { error: Error }).error.message, /subscriber/);
    });

    it('gives an error naming the problem for bad names, keys, data and ttl', async () => {
      const base = { connection, database: 'm', collection: 'c', key: 'k', data: { a: 1 } };
      for (const [patch, message] of [
        [{ database: 5 }, /database name/],
        [{ collection: {} }, /collection name/],
        [{ key: 7 }, /item key/],
        [{ data: [1] }, /only plain objects/],
        [{ ttl: 0 }, /ttl/],
      ] as Array<[Record<string, unknown>, RegExp]>) {
        const r = await outcome(face.call('setItem', { ...base, ...patch }));
        assert.equal(r.exit, 'error');
        assert.match(r.error!.message, message);
      }
    });

    it("exits failed with Redis's reason when out of memory, and writes nothing", async () => {
      const big = { blob: 'x'.repeat(512 * 1024) };
      let r;
      for (let i = 0; i < 20; i++) {
        r = await outcome(
          face.call('setItem', { connection, database: 'oom', collection: 'c', key: `k${i}`, data: big }),
        );
        if (r.exit !== 'success') break;
      }
      assert.equal(r!.exit, 'failed');
      assert.match((r!.raw as { error: Error }).error.message, /OOM/);
      const [seq, members] = await Promise.all([
        connection.hGet('memis:{oom/c}:meta', 'seq'),
        connection.sCard('memis:{oom/c}:keys'),
      ]);
      assert.equal(Number(seq), Number(members), 'every counted write has its item: nothing half-written');
      await connection.flushAll();
    });
  });
}
