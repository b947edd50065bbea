/**
 * Compile-time contract: each `@ts-expect-error` below must be an error, or `tsc` (part of `npm test`) fails.
 * The runtime assertions only keep mocha honest about this file having run.
 */
import assert from 'node:assert/strict';
import Pack from '../index';
import { defineMachine, exit, required } from '../lib/define';
import type { Connection, Manager } from '../index';

describe('types hold the contract', () => {
  it('rejects undeclared exits, wrong outputs and missing inputs at compile time', () => {
    const m = defineMachine('typed-thing', {
      friendlyName: 'Typed thing',
      description: 'A machine for type tests.',
      inputs: { key: required<string>({ description: 'A key.' }) },
      exits: {
        success: exit<{ value: number }>({ description: 'Done.' }),
        notFound: exit({ description: 'Missing.' }),
      },
      fn: async (inputs, exits) => {
        if (inputs.key === 'a') return exits.notFound();
        // @ts-expect-error: `nope` is not a declared exit
        if (inputs.key === 'b') return exits.nope();
        // @ts-expect-error: success's output is { value: number }
        if (inputs.key === 'c') return exits.success({ value: 'text' });
        return exits.success({ value: 1 });
      },
    });
    // @ts-expect-error: `key` is required
    void (() => m.call({}));
    // @ts-expect-error: an input needs a description
    void (() => required<string>({}));

    const connection = {} as Connection;
    const manager = {} as Manager;
    // @ts-expect-error: `key` is missing
    void (() => Pack.promises.getCachedValue({ connection }));
    // @ts-expect-error: `ttl` is a number
    void (() => Pack.promises.cacheValue({ connection, key: 'k', value: 1, ttl: '60' }));
    void (() =>
      Pack.getCachedValue({ connection, key: 'k' }).switch({
        error: () => undefined,
        success: (r) => void r.value,
        // @ts-expect-error: getCachedValue has no `failed` exit
        failed: () => undefined,
      }));
    // @ts-expect-error: .now() exists only on sync machines
    void (() => Pack.getConnection({ manager }).now());
    const url: string = Pack.createConnectionUrl({ port: 6380 }).now();
    assert.equal(url, 'redis://127.0.0.1:6380');
  });
});

describe('the facade contract holds at compile time', () => {
  it('accepts only known events and listeners of the right type; internals are not public', () => {
    interface Artist {
      genre: string;
    }
    // Never connects: createClient is lazy and nothing below writes.
    const client = Pack.createClient({ port: 1 });
    const artists = client.database('d').collection<Artist>('artists');
    const seen: string[] = [];
    // memis callers' chains keep working
    artists
      .on('set', (key, data, info) => seen.push(`${key}:${data.genre}:${info.event}`))
      .on('delete', (key) => seen.push(key))
      .multi('expire delete', (_key, data) => seen.push(data.genre))
      .once('expire', function () {
        // listeners are called with the collection as `this`
        seen.push(String(this.size));
      });
    // @ts-expect-error: `sett` is not a collection event
    assert.throws(() => artists.on('sett', () => undefined), /Unknown collection event "sett"/);
    // @ts-expect-error: the key is a string
    artists.on('set', (key: number) => key);
    // @ts-expect-error: data is an Artist, which has no `name`
    artists.on('set', (_key, data) => data.name);
    // @ts-expect-error: `gone` is not an event
    assert.throws(() => artists.multi('expire gone', () => undefined), /Unknown collection event "gone"/);
    // @ts-expect-error: at least one event
    assert.throws(() => artists.multi('', () => undefined), /name at least one event/);
    client.on('error', (err) => seen.push(err.message));
    // @ts-expect-error: the client's error listener gets an Error
    client.on('error', (err: string) => err);
    // @ts-expect-error: the client has no `ready` event
    assert.throws(() => client.on('ready', () => undefined), /Unknown client event "ready"/);
    // @ts-expect-error: internal
    void client.report;
    // @ts-expect-error: internal
    void client.collections;
    // @ts-expect-error: internal
    void client.commandConnection;
    // @ts-expect-error: internal
    void artists.replica;
    // @ts-expect-error: an item is an object
    void client.database('d').collection<string>('c');
    // @ts-expect-error: data must be an Artist
    void (() => artists.set('k', { genre: 1 }));
    // Write options: a misspelt or mistyped option fails to compile.
    void (async () => {
      const revision: number = await artists.set('k', { genre: 'x' }, { ttl: 60, ifRevision: 0 });
      const deleted: boolean = await artists.del('k', { ifRevision: revision });
      const revisions: number[] = await artists.batch().set('a', { genre: 'x' }, { ttl: 1 }).del('b').exec();
      const entry = artists.entry('k');
      const expires: number | null | undefined = entry?.expiresAt;
      return [deleted, revisions, expires, entry?.data.genre];
    });
    // @ts-expect-error: `ifRevison` is not an option of set
    void (() => artists.set('k', { genre: 'x' }, { ifRevison: 1 }));
    // @ts-expect-error: ifRevision is a number
    void (() => artists.set('k', { genre: 'x' }, { ifRevision: '1' }));
    // @ts-expect-error: del takes no ttl
    void (() => artists.del('k', { ttl: 1 }));
    // @ts-expect-error: a batch's data must be an Artist
    void (() => artists.batch().set('k', { genre: 1 }));
    // @ts-expect-error: a batch's del takes only ifRevision
    void (() => artists.batch().del('k', { ifRevison: 2 }));
    const connection = {} as Connection;
    const at = { connection, database: 'd', collection: 'c', key: 'k', data: {} };
    // @ts-expect-error: the machine's ifRevision is a number
    void (() => Pack.promises.setItem({ ...at, ifRevision: '1' }));
    assert.deepEqual(seen, []);
    assert.equal(artists.listenerCount('delete'), 2);
  });
});

describe('runner-face types for newcomers', () => {
  it('types getCachedValue<T> and explains .now() on an asynchronous machine', () => {
    const connection = {} as Connection;
    const manager = {} as Manager;
    void (async () => {
      const { value } = await Pack.getCachedValue<{ name: string }>({ connection, key: 'k' });
      const name: string = value.name;
      const p = await Pack.promises.getCachedValue<number[]>({ connection, key: 'k' });
      const n: number = p.value[0]!;
      // @ts-expect-error: value is unknown unless a type is given
      void (await Pack.promises.getCachedValue({ connection, key: 'k' })).value.name;
      // @ts-expect-error: a number[] has no `name`
      void p.value.name;
      return [name, n];
    });
    // @ts-expect-error: "now() works only on synchronous machines (createConnectionUrl): use await, .exec(cb) or …"
    void (() => Pack.getCachedValue({ connection, key: 'k' }).now());
    // @ts-expect-error: the same for the deprecated execSync
    void (() => Pack.destroyManager({ manager }).execSync());
    assert.ok(true);
  });
});
