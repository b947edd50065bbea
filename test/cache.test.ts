import assert from 'node:assert/strict';
import { createClient } from 'redis';
import Pack from '../index';
import type { Connection, Manager } from '../index';
import { connect } from './helpers/connect';
import { faces, outcome } from './helpers/faces';
import { oddKeys, roundTrip } from './helpers/fixtures';
import { server } from './helpers/redis-server';

for (const face of faces) {
  describe(`cache machines through ${face.name}`, () => {
    let manager: Manager;
    let connection: Connection;
    let url: string;
    before(async () => {
      url = (await server('plain')).url;
      ({ manager, connection } = await connect(url));
    });
    after(async () => {
      await Pack.promises.destroyManager({ manager });
    });

    describe('cacheValue → getCachedValue round trip', () => {
      for (const [name, value] of roundTrip) {
        it(`returns ${name} with its type`, async () => {
          const key = `rt:${face.name}:${name}`;
          assert.equal((await outcome(face.call('cacheValue', { connection, key, value }))).exit, 'success');
          const got = await outcome(face.call('getCachedValue', { connection, key }));
          assert.equal(got.exit, 'success');
          assert.deepEqual((got.output as { value: unknown }).value, value);
        });
      }
      for (const key of oddKeys) {
        it(`accepts the key ${JSON.stringify(key)}`, async () => {
          await face.call('cacheValue', { connection, key, value: key });
          assert.deepEqual(await face.call('getCachedValue', { connection, key }), { value: key });
        });
      }
      it('uses a finite number key as its text', async () => {
        await face.call('cacheValue', { connection, key: 42, value: 'n' });
        assert.deepEqual(await face.call('getCachedValue', { connection, key: '42' }), { value: 'n' });
      });
    });

    describe('cacheValue', () => {
      it('sets value and TTL in one command (the key has a TTL right after)', async () => {
        const key = `ttl:${face.name}`;
        await face.call('cacheValue', { connection, key, value: 1, ttl: 100 });
        const ttl = Number(await connection.ttl(key));
        assert.ok(ttl > 90 && ttl <= 100, `ttl was ${ttl}`);
      });
      it('overwrites a TTL with none when called again without ttl', async () => {
        const key = `ttl2:${face.name}`;
        await face.call('cacheValue', { connection, key, value: 1, ttl: 100 });
        await face.call('cacheValue', { connection, key, value: 2 });
        assert.equal(await connection.ttl(key), -1);
      });
      const refused: Array<[string, unknown, RegExp]> = [
        ['undefined', undefined, /undefined.*"bad:/],
        ['a function', () => 1, /function.*"bad:/],
        ['a BigInt', { n: 10n }, /BigInt/],
        [
          'a circular value',
          (() => {
            const o: Record<string, unknown> = {};
            o.self = o;
            return o;
          })(),
          /circular/,
        ],
      ];
      for (const [name, value, message] of refused) {
        it(`refuses ${name} with an error naming the key, writing nothing`, async () => {
          const key = `bad:${face.name}:${name}`;
          const r = await outcome(face.call('cacheValue', { connection, key, value }));
          assert.equal(r.exit, 'error');
          assert.match(r.error!.message, message);
          assert.match(r.error!.message, new RegExp(key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
          assert.equal(await connection.exists(key), 0);
        });
      }
      for (const key of ['', {}, [], null, NaN, Infinity, true]) {
        it(`refuses the key ${JSON.stringify(key) ?? String(key)}`, async () => {
          const r = await outcome(face.call('cacheValue', { connection, key, value: 1 }));
          assert.equal(r.exit, 'error');
          assert.match(r.error!.message, /"?`?key`?"?/);
        });
      }
      for (const ttl of [0, -1, 1.5, '60', NaN]) {
        it(`refuses ttl ${JSON.stringify(ttl)}`, async () => {
          const r = await outcome(face.call('cacheValue', { connection, key: 'k', value: 1, ttl }));
          assert.equal(r.exit, 'error');
          assert.match(r.error!.message, /`ttl` must be a positive whole number/);
        });
      }
      it('exits badConnection for something that is not a connection', async () => {
        const r = await outcome(
          face.call('cacheValue', { connection: { end() {}, removeAllListeners() {} }, key: 'k', value: 1 }),
        );
        assert.equal(r.exit, 'badConnection');
        assert.match((r.raw as { error: Error }).error.message, /not a connection made by getConnection/);
      });
      it('exits error (UsageError) when a required input is missing', async () => {
        const r = await outcome(face.call('cacheValue', { connection, value: 1 }));
        assert.equal(r.exit, 'error');
        assert.equal(r.error!.name, 'UsageError');
        assert.equal(r.error!.code, 'E_INVALID_ARGINS');
      });
      it("exits error with Redis's reason when the key holds another type", async () => {
        await connection.del('wrongtype');
        await connection.lPush('wrongtype', 'x');
        const r = await outcome(face.call('getCachedValue', { connection, key: 'wrongtype' }));
        assert.equal(r.exit, 'error');
        assert.match(r.error!.message, /WRONGTYPE/);
      });
    });

    describe('getCachedValue', () => {
      it('exits notFound for a key never set', async () => {
        assert.equal(
          (await outcome(face.call('getCachedValue', { connection, key: `missing:${face.name}` }))).exit,
          'notFound',
        );
      });
      it('exits notFound once the TTL has run out', async () => {
        const key = `expiring:${face.name}`;
        await connection.set(key, '"v"', { PX: 30 });
        await new Promise((r) => setTimeout(r, 80));
        assert.equal((await outcome(face.call('getCachedValue', { connection, key }))).exit, 'notFound');
      });
      it('gives an error naming the key for a value that is not JSON', async () => {
        const key = `notjson:${face.name}`;
        await connection.set(key, 'plain text');
        const r = await outcome(face.call('getCachedValue', { connection, key }));
        assert.equal(r.exit, 'error');
        assert.equal(r.error!.code, 'E_BAD_STORED_VALUE');
        assert.ok(r.error!.message.includes(key));
      });
      it('exits badConnection for a released connection', async () => {
        const c = await connect(url);
        await Pack.promises.releaseConnection({ connection: c.connection });
        const r = await outcome(face.call('getCachedValue', { connection: c.connection, key: 'k' }));
        assert.equal(r.exit, 'badConnection');
        assert.match((r.raw as { error: Error }).error.message, /already released/);
        await Pack.promises.destroyManager({ manager: c.manager });
      });
    });

    describe('destroyCachedValues', () => {
      it('deletes the keys, ignoring duplicates and missing ones', async () => {
        await face.call('cacheValue', { connection, key: 'd1', value: 1 });
        await face.call('cacheValue', { connection, key: 'd2', value: 2 });
        assert.equal(
          (await outcome(face.call('destroyCachedValues', { connection, keys: ['d1', 'd2', 'd1', 'never'] }))).exit,
          'success',
        );
        assert.equal(await connection.exists(['d1', 'd2']), 0);
      });
      it('succeeds and does nothing for an empty array', async () => {
        assert.equal((await outcome(face.call('destroyCachedValues', { connection, keys: [] }))).exit, 'success');
      });
      it('deletes very large arrays of keys (in batches)', async () => {
        const keys = Array.from({ length: 5000 }, (_, i) => `many:${face.name}:${i}`);
        await connection.mSet(keys.map((k) => [k, '1'] as [string, string]));
        await face.call('destroyCachedValues', { connection, keys });
        assert.equal(await connection.exists(keys.slice(0, 100)), 0);
        assert.equal(await connection.exists(keys.slice(-100)), 0);
      });
      it('exits invalidKeys, deleting nothing, when one key is bad', async () => {
        await face.call('cacheValue', { connection, key: 'keep', value: 1 });
        const r = await outcome(face.call('destroyCachedValues', { connection, keys: ['keep', { no: 1 }] }));
        assert.equal(r.exit, 'invalidKeys');
        assert.match((r.raw as { error: Error }).error.message, /keys\[1\]/);
        assert.equal(await connection.exists('keep'), 1);
      });
      for (const keys of ['a', 5, { a: 1 }]) {
        it(`gives an error for keys = ${JSON.stringify(keys)} (not an array)`, async () => {
          const r = await outcome(face.call('destroyCachedValues', { connection, keys }));
          assert.equal(r.exit, 'error');
          assert.match(r.error!.message, /`keys` must be an array/);
        });
      }
      it('exits badConnection for a connection that is not ours', async () => {
        const foreign = createClient({ url });
        assert.equal(
          (await outcome(face.call('destroyCachedValues', { connection: foreign, keys: ['a'] }))).exit,
          'badConnection',
        );
      });
    });
  });
}

describe('the database named in a connection string', () => {
  // machinepack-redis 2.0.7 (node-redis v3) honoured `?db=N`; node-redis 6 reads only the path. Sails configs use both.
  for (const [form, suffix, db] of [
    ['path', '/4', 4],
    ['query', '?db=3', 3],
    ['query after a slash', '/?db=5', 5],
  ] as const) {
    it(`writes to database ${db} for the ${form} form (${suffix}), on both kinds of connection`, async () => {
      const url = (await server('plain')).url;
      const raw = createClient({ url, database: db });
      await raw.connect();
      for (const legacyMode of [false, true]) {
        const { manager } = await Pack.promises.createManager({ connectionString: url + suffix, meta: { legacyMode } });
        const { connection } = await Pack.promises.getConnection({ manager });
        const key = `db-form:${form}:${legacyMode}`;
        await Pack.promises.cacheValue({ connection, key, value: 1 });
        assert.equal(await raw.exists(key), 1, `${key} is in database ${db}`);
        await Pack.promises.destroyManager({ manager });
      }
      raw.destroy();
    });
  }

  it('refuses ?db= that is not a whole number, or two different databases, as malformed', async () => {
    const url = (await server('plain')).url;
    for (const suffix of ['?db=abc', '/2?db=3']) {
      const r = await outcome(Pack.promises.createManager({ connectionString: url + suffix }));
      assert.equal(r.exit, 'malformed', suffix);
    }
  });
});
