/**
 * Names (issue 17): the value describer no longer shares mocha's global `describe` name, the two report types are
 * one, and a constructor with many settings takes them by name. Compile-time checks run with `npm run typecheck`.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import type { BadConnectionReport, ErrorReport } from '../../index';
import { Manager } from '../../lib/connection';
import * as options from '../../lib/options';

describe('names (no server)', () => {
  it('lib/options exports describeValue, not describe', () => {
    assert.equal(typeof options.describeValue, 'function');
    assert.equal((options as Record<string, unknown>).describe, undefined);
    // @ts-expect-error renamed to describeValue (mocha owns the global `describe`)
    void options.describe;
  });
  it('BadConnectionReport is ErrorReport (a deprecated alias)', () => {
    const report: ErrorReport = { error: new Error('x') };
    const same: BadConnectionReport = report;
    const back: ErrorReport = same;
    assert.equal(back, report);
  });
  it('Manager takes its settings as one options object, the password kept out of sight', () => {
    const failures: unknown[] = [];
    const m = new Manager({
      connectionString: 'redis://u:names-unit-pw@h:6379',
      clientOptions: {},
      meta: { commandTimeout: 1234 },
      onUnexpectedFailure: (err) => failures.push(err),
    });
    assert.equal(m.commandTimeout, 1234);
    assert.equal(m.url, 'redis://u:***@h:6379');
    assert.doesNotMatch(inspect(m), /names-unit-pw/);
    assert.equal(typeof m.onUnexpectedFailure, 'function');
    assert.equal(new Manager({ connectionString: 'redis://h', clientOptions: {} }).topology.kind, 'single');
    // @ts-expect-error positional arguments are gone (a compile-time check; never called)
    const positional = () => new Manager('redis://h', {}, undefined, undefined);
    void positional;
  });
});
