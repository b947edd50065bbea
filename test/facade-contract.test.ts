/** The facade's event contract at run time: once, off, `this`, the info argument, chains, the client's error. */
import assert from 'node:assert/strict';
import Pack from '../index';
import type { ChangeInfo, Collection, MemisClient } from '../index';
import { until } from './helpers/events';
import { server } from './helpers/redis-server';

describe('facade events', () => {
  let client: MemisClient;
  before(async () => {
    client = Pack.createClient((await server('plain')).url, { syncInterval: 100 });
  });
  after(() => client.quit());

  it('calls listeners with the collection as `this` and the change info; once fires once; off removes', async () => {
    const c = client.database('contract').collection<{ n: number }>('c');
    const calls: Array<{ self: unknown; key: string; n: number; info: ChangeInfo }> = [];
    const onceCalls: string[] = [];
    const removed: string[] = [];
    const removedListener = (key: string) => removed.push(key);
    c.on('set', function (key, data, info) {
      calls.push({ self: this, key, n: data.n, info });
    })
      .once('set', (key) => onceCalls.push(key))
      .on('set', removedListener)
      .off('set', removedListener);
    await c.subscribe();
    const ra = await c.set('a', { n: 1 });
    const rb = await c.set('b', { n: 2 });
    await until(() => calls.length === 2, 'two sets');
    assert.equal(calls[0]!.self, c);
    assert.deepEqual(calls[0]!.info, { event: 'set', database: 'contract', collection: 'c', revision: ra });
    assert.equal(calls[1]!.info.revision, rb);
    assert.deepEqual(onceCalls, ['a']);
    assert.deepEqual(removed, []);
    assert.equal(c.listenerCount('set'), 1);
    await c.unsubscribe();
  });

  it('multi listeners learn which event fired; a throwing listener reaches the client error event', async () => {
    const c: Collection<{ n: number }> = client.database('contract').collection('m');
    const events: string[] = [];
    const errors: Error[] = [];
    const onError = (err: Error) => errors.push(err);
    client.on('error', onError);
    c.multi('expire  delete', (key, _data, info) => events.push(`${info.event}:${key}`));
    c.on('set', () => {
      throw new Error('listener broke');
    });
    await c.subscribe();
    await c.set('x', { n: 1 }, 0.2);
    await c.set('y', { n: 1 });
    await c.del('y');
    await until(() => events.length === 2, 'expire and delete');
    assert.deepEqual(events.sort(), ['delete:y', 'expire:x']);
    assert.ok(errors.length >= 2 && errors.every((e) => e.message === 'listener broke'));
    client.off('error', onError);
    await c.unsubscribe();
  });

  it('refuses a listener that is not a function, naming the event', () => {
    const c = client.database('contract').collection('bad');
    assert.throws(() => c.on('set', 'nope' as never), /on\("set", listener\): the listener must be a function/);
    assert.throws(() => c.multi('set delete', 1 as never), /the listener must be a function/);
  });
});
