/**
 * The replica's sequencing logic, driven through a fake store (no redis-server): in-order, duplicate, gap, older
 * and newer epoch, malformed and forged notifications, Redis going back to an older state, expiry.
 */
import assert from 'node:assert/strict';
import { Replica, type ChangeType } from '../../lib/collections/replica';
import { until } from '../helpers/events';
import { FakeStore } from '../helpers/fake-store';

interface Event {
  type: ChangeType;
  key: string;
  data: unknown;
}

async function replica(store: FakeStore, syncInterval = 20) {
  const events: Event[] = [];
  const troubles: Error[] = [];
  const r = new Replica(
    store,
    (type, key, data) => events.push({ type, key, data }),
    (err) => troubles.push(err),
    { syncInterval, name: 'db/c' },
  );
  await r.start();
  return { r, events, troubles };
}

const copyOf = (r: Replica) =>
  Object.fromEntries(
    r
      .keysList()
      .sort()
      .map((k) => [k, r.get(k)]),
  );

describe('replica sequencing (fake store, no server)', () => {
  const ended: Replica[] = [];
  afterEach(async () => {
    await Promise.all(ended.map((r) => r.end()));
    ended.length = 0;
  });
  const start = async (store: FakeStore, syncInterval = 20) => {
    const x = await replica(store, syncInterval);
    ended.push(x.r);
    return x;
  };

  it('loads a snapshot, then applies notifications in order', async () => {
    const store = new FakeStore();
    store.set('a', { v: 1 });
    const { r, events } = await start(store);
    assert.deepEqual(events, [{ type: 'set', key: 'a', data: { v: 1 } }]);
    store.deliver(store.set('b', { v: 2 }));
    store.deliver(store.del('a'));
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.key}`),
      ['set:a', 'set:b', 'delete:a'],
    );
    assert.equal(r.seq, 3);
    assert.equal(store.calls.catchUp ?? 0, 0, 'no catch-up for notifications in order');
  });

  it('drops duplicates: no event twice', async () => {
    const store = new FakeStore();
    const { events } = await start(store);
    const n = store.set('a', { v: 1 });
    store.deliver(n);
    store.deliver(n);
    store.deliver(n);
    assert.equal(events.length, 1);
  });

  it('a gap replays the log; the late notification is then a duplicate', async () => {
    const store = new FakeStore();
    const { r, events } = await start(store, 10_000);
    const n1 = store.set('a', { v: 1 });
    const n2 = store.set('b', { v: 2 });
    const n3 = store.set('c', { v: 3 });
    store.deliver(n1);
    store.deliver(n3); // n2 lost (for now)
    await until(() => r.seq === 3, 'the catch-up');
    store.deliver(n2);
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.key}`),
      ['set:a', 'set:b', 'set:c'],
    );
    assert.equal(r.stats().resyncs, 0, 'replayed, not resynced');
  });

  it('ignores a notification of an older epoch, and resyncs on a newer one (vanished items deleted)', async () => {
    const store = new FakeStore();
    store.set('old', { v: 1 });
    const { r, events } = await start(store, 10_000);
    const stale = store.set('x', { v: 1 });
    store.deliver(stale);
    store.flush(); // restarted empty: a new epoch
    store.deliver(stale); // an old-epoch message arriving late
    store.deliver(store.set('new', { v: 2 }));
    await until(() => r.epoch === store.epoch, 'the resync');
    assert.deepEqual(copyOf(r), store.truth());
    assert.deepEqual(
      events.filter((e) => e.type === 'delete').map((e) => e.key),
      ['old', 'x'],
    );
    assert.ok(r.stats().resyncs >= 1);
  });

  it('a live copy of an empty collection that resyncs announces the new items once it holds all of them', async () => {
    const store = new FakeStore();
    const sizesSeen: number[] = [];
    const r: Replica = new Replica(
      store,
      () => sizesSeen.push(r.keysList().length),
      () => undefined,
      {
        syncInterval: 10_000,
        name: 'db/c',
      },
    );
    ended.push(r);
    await r.start();
    assert.equal(r.keysList().length, 0);
    store.flush(); // a new epoch: the copy must resync
    for (let i = 0; i < 100; i++) store.set(`k${i}`, { i }); // more than the first window of 16
    store.deliver(store.set('last', { i: 100 }));
    await until(() => sizesSeen.length === 101, 'every set announced');
    // Every event came once the copy held all 101 items: never a half-loaded copy in front of a live listener.
    assert.deepEqual([...new Set(sizesSeen)], [101]);
  });

  it('a resync of a live copy changes what get() reads in one step: never a half-loaded copy, even between windows', async () => {
    const store = new FakeStore();
    store.set('old', { v: 0 });
    const r: Replica = new Replica(
      store,
      () => undefined,
      () => undefined,
      { syncInterval: 10_000, name: 'db/c' },
    );
    ended.push(r);
    await r.start();
    // What a reader polling the copy sees while each window of the resync is read.
    const seenByReaders: string[] = [];
    const readItems = store.readItems.bind(store);
    store.readItems = async (members) => {
      const keys = r.keysList();
      seenByReaders.push(`${keys.length}:${keys.includes('old') ? 'old' : 'new'}`);
      return readItems(members);
    };
    store.flush(); // a new epoch (Redis lost the collection): the copy must resync
    // Items of 30 KB: windows are sized by bytes (about 1 MiB each), so 300 items take about ten windows, more
    // than are requested ahead.
    const pad = 'p'.repeat(30_000);
    for (let i = 0; i < 300; i++) store.set(`k${i}`, { i, pad });
    store.deliver(store.set('last', { i: 300 }));
    await until(() => r.keysList().length === 301 && !r.keysList().includes('old'), 'the resync');
    assert.ok(seenByReaders.length > 5, `read in several windows: ${seenByReaders.length}`);
    assert.deepEqual([...new Set(seenByReaders)], ['1:old'], 'the old copy until the new one is whole');
    assert.deepEqual(copyOf(r), store.truth());
  });

  it('refuses malformed messages without throwing, counts and reports them, and keeps working', async () => {
    const store = new FakeStore();
    const { r, events, troubles } = await start(store, 10_000);
    const good = store.set('a', { v: 1 });
    const [seq, epoch, t, pt] = good.split('\n');
    for (const bad of [
      '',
      'garbage',
      `${seq}\n${epoch}\n${t}\n${pt}\ns\na\n0\n{not json`,
      `${seq}\n${epoch}\n${t}\n${pt}\ns\n%E0%A4%A\n0\n{}`,
      `${seq}\n${epoch}\n${t}\n${pt}\ns\na\n0\n[1]`,
      `${seq}\n${epoch}\n${t}\n${pt}\nx\na\n0\n{}`,
      `99999999999999999999\n${epoch}\n${t}\n${pt}\ns\na\n0\n{}`,
      `${seq}\n${epoch}\n${t}\n${pt}\ns\na\n-5\n{}`,
      `${seq}\n${epoch}\n${t}\n${pt}\nd\na\n0\n{"payload":"on a delete"}`,
    ])
      assert.doesNotThrow(() => store.deliver(bad));
    assert.equal(r.stats().rejectedMessages, 9);
    assert.ok(troubles.length >= 1 && /refused a malformed notification/.test(troubles[0]!.message));
    assert.ok(troubles.length < 9, 'reported at most once per syncInterval, with a count');
    store.deliver(good);
    await until(() => r.seq === 1, 'the good message');
    assert.deepEqual(events, [{ type: 'set', key: 'a', data: { v: 1 } }]);
  });

  it('a forged notification that takes the next seq is detected and repaired; the real write is not hidden', async () => {
    const store = new FakeStore();
    store.set('a', { v: 1 });
    const { r, troubles } = await start(store, 20);
    // A forger who reads the channel knows the epoch, the next seq and the last stamp, not the next write's stamp.
    const forged = `${store.seq + 1}\n${store.epoch}\n${Number(store.stamp) + 7}\n${store.stamp}\ns\nforged\n0\n{"evil":true}`;
    store.deliver(forged);
    assert.deepEqual(r.get('forged'), { evil: true }, 'indistinguishable until the real write or the check');
    const real = store.set('real', { v: 2 });
    store.deliver(real); // same seq: dropped as a duplicate…
    await until(() => r.get('real') !== undefined && !r.has('forged'), 'the repair'); // …found by the periodic check
    assert.deepEqual(copyOf(r), store.truth());
    store.deliver(store.set('after', { v: 3 }));
    assert.deepEqual(copyOf(r), store.truth());
    assert.ok(
      troubles.some((e) => /did not match Redis/.test(e.message)),
      'the divergence is reported',
    );
  });

  it('detects Redis going back to an older snapshot (same epoch, lower seq) and resyncs', async () => {
    const store = new FakeStore();
    store.set('a', { v: 1 });
    const { r } = await start(store, 20);
    const snapshot = store.save();
    store.deliver(store.set('b', { v: 2 }));
    store.deliver(store.set('c', { v: 3 }));
    store.restore(snapshot); // restarted from the older RDB: b and c are gone, seq is 1 again
    store.deliver(store.set('d', { v: 4 })); // seq 2 again: not the seq 2 the copy applied
    store.deliver(store.set('e', { v: 5 }));
    store.deliver(store.set('f', { v: 6 })); // seq 4: past what the copy held
    await until(() => JSON.stringify(copyOf(r)) === JSON.stringify(store.truth()), 'convergence');
    assert.equal(r.has('b'), false);
  });

  it('a check answered before writes the copy applied meanwhile is no alarm: no catch-up, live, still detects going back', async () => {
    const store = new FakeStore();
    const { r } = await start(store, 20);
    // Redis answers each check, then two more writes reach the copy (subscriber connection) before the reply does
    // (command connection): a copy busy with a stream of writes is ahead of the reply when it comes.
    const check = store.check.bind(store);
    let writes = 0;
    store.check = async (seq) => {
      const reply = await check(seq);
      store.deliver(store.set(`k${writes++ % 10}`, { v: writes }));
      store.deliver(store.set(`k${writes++ % 10}`, { v: writes }));
      return reply;
    };
    await until(() => (store.calls.check ?? 0) >= 6, 'six checks');
    assert.equal(store.calls.catchUp ?? 0, 0, 'no catch-up: the copy was never behind, nor Redis back');
    assert.equal(r.seq, writes);
    assert.equal(r.status, 'live');
    assert.equal(r.stats().rejectedMessages, 0);
    // Redis going back is still seen by the check: its reply is below what the copy held when it was sent.
    store.check = check;
    const snapshot = store.save();
    store.deliver(store.set('x', { v: 1 }));
    store.restore(snapshot);
    await until(() => (store.calls.catchUp ?? 0) >= 1, 'a catch-up after Redis went back');
    await until(() => JSON.stringify(copyOf(r)) === JSON.stringify(store.truth()), 'convergence');
  });

  it('a check sent before the collection existed, answered after its first write reached the copy: no resync', async () => {
    const store = new FakeStore();
    const { r, events } = await start(store, 20);
    assert.equal(r.epoch, '');
    // The first write lands while the check is in flight; its notification reaches the copy before the reply.
    const check = store.check.bind(store);
    let first = true;
    store.check = async (seq) => {
      if (!first) return check(seq);
      first = false;
      const n = store.set('a', { v: 1 });
      const reply = await check(seq);
      store.deliver(n);
      return reply;
    };
    await until(() => (store.calls.check ?? 0) >= 4, 'four checks');
    assert.equal(store.calls.catchUp ?? 0, 0, 'no catch-up: the copy took the new epoch from the write itself');
    assert.equal(r.stats().resyncs, 0);
    assert.equal(r.epoch, store.epoch);
    assert.deepEqual(events, [{ type: 'set', key: 'a', data: { v: 1 } }]);
  });

  it('a catch-up that fails is retried with backoff up to syncInterval, without spinning, and waits for ready', async () => {
    const store = new FakeStore();
    const { r, troubles } = await start(store, 100);
    const n1 = store.set('a', { v: 1 });
    store.set('b', { v: 2 });
    store.failWith = new Error('Redis is down');
    store.deliver(store.set('c', { v: 3 })); // a gap: catch-up fails
    await new Promise((res) => setTimeout(res, 500));
    const tries = store.calls.catchUp ?? 0;
    assert.ok(tries >= 2 && tries <= 15, `catch-ups while failing: ${tries}`);
    assert.equal(troubles.length, 1, 'one report per streak of failures');
    store.failWith = undefined;
    store.ready = false; // reconnecting: no catch-up until ready
    const before = store.calls.catchUp ?? 0;
    await new Promise((res) => setTimeout(res, 250));
    assert.equal(store.calls.catchUp ?? 0, before);
    store.ready = true;
    store.onCommandReady?.();
    await until(() => r.seq === 3, 'caught up once ready');
    store.deliver(n1);
    assert.deepEqual(copyOf(r), store.truth());
  });

  it('never announces an item whose deadline passed in transit; expires others with their last copy', async () => {
    const store = new FakeStore();
    const { r, events } = await start(store, 10_000);
    const late = store.set('late', { v: 1 }, 30);
    await new Promise((res) => setTimeout(res, 60));
    store.deliver(late); // delayed past its deadline
    assert.equal(r.has('late'), false);
    store.deliver(store.set('short', { v: 2 }, 40));
    await until(() => events.some((e) => e.type === 'expire'), 'the expire');
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.key}`),
      ['set:short', 'expire:short'],
    );
  });

  it('no expire for an item whose newer write is late (confirmed with the store first)', async () => {
    const store = new FakeStore();
    const { r, events } = await start(store, 10_000);
    store.deliver(store.set('k', { v: 1 }, 40));
    const renewed = store.set('k', { v: 2 }, 60_000); // written in time, its notification delayed
    await until(() => (store.calls.revisions ?? 0) > 0, 'the expiry check');
    await new Promise((res) => setTimeout(res, 30));
    store.deliver(renewed);
    await until(() => r.seq === 2, 'the renewal');
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.key}`),
      ['set:k', 'set:k'],
    );
  });

  for (const replyAfterWrite of [false, true]) {
    it(`an item set again with the same contents and no TTL while its expiry is checked lives on, and the check stops (reply ${replyAfterWrite ? 'after' : 'before'} the write)`, async () => {
      const store = new FakeStore();
      const { r, events } = await start(store, 10_000);
      store.deliver(store.set('k', { v: 1 }, 40));
      const revisions = store.revisions.bind(store);
      let renewed = false;
      store.revisions = async (keys) => {
        if (renewed) return revisions(keys);
        renewed = true;
        // The same contents written again without a TTL, just in time; its notification reaches the copy while
        // Redis is being asked.
        const n = store.set('k', { v: 1 });
        if (replyAfterWrite) {
          const reply = await revisions(keys);
          store.deliver(n);
          return reply;
        }
        store.deliver(n);
        return { ...(await revisions(keys)), revisions: keys.map(() => 1) }; // what Redis said before the write
      };
      await until(() => renewed, 'the expiry check');
      await new Promise((res) => setTimeout(res, 100));
      const calls = store.calls.revisions ?? 0;
      await new Promise((res) => setTimeout(res, 100));
      assert.deepEqual(r.get('k'), { v: 1 }, 'still held');
      assert.deepEqual(r.entry('k')?.deadline, 0);
      assert.deepEqual(
        events.map((e) => `${e.type}:${e.key}`),
        ['set:k'],
      );
      assert.equal(store.calls.revisions ?? 0, calls, 'no more expiry checks for an item without a deadline');
    });
  }

  it('Redis clock ahead of ours: deadlines are taken on Redis clock', async () => {
    const store = new FakeStore();
    store.clockOffset = 3_600_000; // an hour ahead
    const { r, events } = await start(store, 10_000);
    store.deliver(store.set('k', { v: 1 }, 500));
    assert.equal(r.has('k'), true, 'not expired on arrival although its deadline is an hour past our clock');
    await until(() => events.some((e) => e.type === 'expire'), 'the expire');
  });

  it('an item held as its JSON text: set only when the contents changed (fields reordered: no event), read parsed', async () => {
    const store = new FakeStore();
    const { r, events } = await start(store, 10_000);
    store.deliver(store.set('a', { x: 12, y: 'p' }));
    store.deliver(store.set('a', { x: 12, y: 'p' })); // the same text
    store.deliver(store.set('a', { y: 'p', x: 12 })); // the same contents, fields in another order
    store.deliver(store.set('a', { x: 21, y: 'p' })); // another value of the same length and characters
    store.deliver(store.set('a', { x: 21, y: 'pp' }));
    assert.deepEqual(
      events.map((e) => JSON.stringify(e.data)),
      ['{"x":12,"y":"p"}', '{"x":21,"y":"p"}', '{"x":21,"y":"pp"}'],
    );
    // Read: parsed once, the same object on every read; a write after that is compared with the object.
    const read = r.get('a');
    assert.deepEqual(read, { x: 21, y: 'pp' });
    assert.equal(r.get('a'), read);
    assert.equal(r.entry('a')?.data, read);
    store.deliver(store.set('a', { y: 'pp', x: 21 }));
    assert.equal(events.length, 3, 'reordered fields of a read item: no event');
    assert.equal(r.get('a'), read, 'and the object read is kept');
    store.deliver(store.set('a', { x: 1 }));
    assert.deepEqual(r.get('a'), { x: 1 });
    assert.equal(events[3]!.data, r.get('a'), 'an item that is read keeps the object its event handed out');
    // A listener that changes the data it got does not change an item nobody read (held as text).
    store.deliver(store.set('b', { n: 1 }));
    (events[4]!.data as Record<string, unknown>).n = 2;
    assert.deepEqual(r.get('b'), { n: 1 });
    // Delete and expire hand out the last copy held, parsed.
    store.deliver(store.set('c', { n: 3 }));
    store.deliver(store.del('c'));
    assert.deepEqual(events[events.length - 1], { type: 'delete', key: 'c', data: { n: 3 } });
  });

  it('same-length texts: reordered fields at any depth are no change; any other difference is one', async () => {
    const store = new FakeStore();
    const { events } = await start(store, 10_000);
    const steps: Array<[Record<string, unknown>, boolean]> = [
      [{ ab: 1, abc: 2, o: { p: 'x,"q', q: [1, 2] } }, true],
      [{ abc: 2, ab: 1, o: { p: 'x,"q', q: [1, 2] } }, false], // names sharing a prefix, reordered
      [{ abc: 2, ab: 1, o: { q: [1, 2], p: 'x,"q' } }, false], // a nested object reordered
      [{ abc: 2, ab: 1, o: { q: [2, 1], p: 'x,"q' } }, true], // an array reordered: another item
      [{ abc: 2, ab: 1, o: { q: [2, 1], p: 'q,"x' } }, true], // a string value's characters moved
      [{ abc: 1, ab: 2, o: { q: [2, 1], p: 'q,"x' } }, true], // values swapped between fields
      [{ 'a"b': 1, 'c"d': 2 }, true],
      [{ 'c"d': 2, 'a"b': 1 }, false], // names with escaped quotes, reordered
      [{ 'c"d': 1, 'a"b': 2 }, true],
      [{ 'x"a': 1, 'x"b': 2 }, true],
      [{ 'x"b': 2, 'x"a': 1 }, false], // the first difference after an escaped quote in a name
    ];
    let expected = 0;
    for (const [data, changed] of steps) {
      store.deliver(store.set('k', data));
      if (changed) expected++;
      assert.equal(events.length, expected, JSON.stringify(data));
    }
  });

  it('nothing is announced after end()', async () => {
    const store = new FakeStore();
    const { r, events } = await start(store, 20);
    store.deliver(store.set('k', { v: 1 }, 30));
    await r.end();
    store.deliver(store.set('x', { v: 1 }));
    await new Promise((res) => setTimeout(res, 80));
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.key}`),
      ['set:k'],
    );
  });
});
