import assert from 'node:assert/strict';
import Pack from '../index';
import type { Connection, Manager } from '../index';
import { connect } from './helpers/connect';
import { server } from './helpers/redis-server';

/** The calling conventions Sails and its adapters use, through the runner. */
describe('runner calling forms', () => {
  let manager: Manager;
  let connection: Connection;
  before(async () => {
    ({ manager, connection } = await connect((await server('plain')).url));
  });
  after(() => Pack.promises.destroyManager({ manager }));

  it('.exec(cb) gets the output on success and an Exception with exit and raw otherwise', async () => {
    await new Promise<void>((resolve, reject) =>
      Pack.cacheValue({ connection, key: 'forms', value: [1] }).exec((err) => (err ? reject(err) : resolve())),
    );
    const out = await new Promise((resolve, reject) =>
      Pack.getCachedValue({ connection, key: 'forms' }).exec((err, o) => (err ? reject(err) : resolve(o))),
    );
    assert.deepEqual(out, { value: [1] });
    const err = await new Promise<Error & { exit?: string; code?: string }>((resolve) =>
      Pack.getCachedValue({ connection, key: 'nope' }).exec((e) => resolve(e!)),
    );
    assert.equal(err.name, 'Exception');
    assert.equal(err.exit, 'notFound');
    assert.equal(err.code, 'notFound');
  });

  it('.switch({...}) calls the handler of the exit taken, with its raw output', async () => {
    const taken = await new Promise<string>((resolve) =>
      Pack.getCachedValue({ connection, key: 'nope' }).switch({
        error: () => resolve('error'),
        notFound: () => resolve('notFound'),
        success: () => resolve('success'),
      }),
    );
    assert.equal(taken, 'notFound');
    const raw = await new Promise<unknown>((resolve) =>
      Pack.getConnection({ manager: {} as Manager }).switch({
        error: resolve,
        failed: (r) => resolve(r),
        success: resolve,
      }),
    );
    assert.equal((raw as { error: { code: string } }).error.code, 'E_BAD_MANAGER');
  });

  it('.switch without a handler for the exit taken goes to error', async () => {
    const err = await new Promise<Error & { exit?: string }>((resolve) =>
      Pack.getCachedValue({ connection, key: 'nope' }).switch({
        error: (e) => resolve(e as Error & { exit?: string }),
        success: () => resolve(new Error('success?')),
      }),
    );
    assert.equal(err.exit, 'notFound');
  });

  it('the explicit-callback form m(argins, cb) runs at once and calls back exactly once', async () => {
    let calls = 0;
    const got = await new Promise<{ connection: Connection }>((resolve, reject) =>
      Pack.getConnection({ manager }, (err, report) => {
        calls++;
        if (err) reject(err);
        else resolve(report!);
      }),
    );
    await new Promise<void>((resolve, reject) =>
      Pack.releaseConnection({ connection: got.connection }, (err) => (err ? reject(err) : resolve())),
    );
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 1);
  });

  it('machine definitions keep their documentation metadata', () => {
    for (const m of Object.values(Pack.machines)) {
      assert.ok(m.def.friendlyName && m.def.description, m.identity);
      for (const [name, input] of Object.entries(m.def.inputs))
        assert.ok((input as { description?: string }).description, `${m.identity}.${name}`);
      for (const [name, exit] of Object.entries(m.def.exits))
        assert.ok((exit as { description?: string }).description, `${m.identity} exit ${name}`);
    }
    assert.equal(Pack.machines.cacheValue.def.sideEffects, 'idempotent');
    assert.equal(Pack.machines.getCachedValue.def.sideEffects, 'cacheable');
  });

  it('exposes node-redis as Pack.redis and works through require()', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const required = require('../index');
    assert.equal(required, Pack);
    assert.equal(typeof required.getCachedValue, 'function');
    assert.equal(typeof Pack.redis.createClient, 'function');
  });
});
