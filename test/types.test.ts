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
