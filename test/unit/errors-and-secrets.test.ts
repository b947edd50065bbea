/**
 * Errors and secrets without a server: the shapes both faces reject with, masking, and how an error is sorted into
 * `badConnection` or `failed`.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  MultiErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
} from 'redis';
import { isConnectionError, Manager, NoReplyError } from '../../lib/connection';
import { reportFailure } from '../../lib/connection/manager';
import { redisReason, writeFailure } from '../../lib/collections/errors';
import { coded, ErrorCodes, exitError, invalidInput, usageError } from '../../lib/errors';
import { redact, redactError, Secrets } from '../../lib/secrets';

describe('secrets masking (no server)', () => {
  it('masks URL credentials, keeping the user name', () => {
    assert.equal(redact('at redis://app:s3cret@h:6379/0 now'), 'at redis://app:***@h:6379/0 now');
    assert.equal(redact('rediss://:pw@h'), 'rediss://:***@h');
    assert.equal(redact('redis://h:6379'), 'redis://h:6379');
  });
  it('a raw `@` in the password does not leak its tail', () => {
    const out = redact('redis://u:p@ss@word@host:1');
    assert.equal(out, 'redis://u:***@host:1');
  });
  it("masks a manager's secrets anywhere, the longest first; ignores trivial ones", () => {
    const secrets = new Secrets();
    secrets.add('hunter2-unit');
    secrets.add('hunter2-unit-longer');
    secrets.add('abc');
    assert.equal(redact('pw hunter2-unit-longer and hunter2-unit', secrets), 'pw *** and ***');
    assert.equal(redact('abc stays', secrets), 'abc stays');
    secrets.add('a.b*c(d)');
    assert.equal(redact('x a.b*c(d) y axbbc(d)', secrets), 'x *** y axbbc(d)');
    assert.equal(redact('pw hunter2-unit'), 'pw hunter2-unit', 'no process-wide list');
  });
  it('redactError masks message, stack and input in place', () => {
    const secrets = new Secrets();
    secrets.add('tOpSeCrEt-9');
    const err = Object.assign(new Error('auth tOpSeCrEt-9 failed'), { input: 'AUTH tOpSeCrEt-9' });
    assert.equal(redactError(err, secrets), err);
    assert.equal(err.message, 'auth *** failed');
    assert.doesNotMatch(err.stack!, /tOpSeCrEt-9/);
    assert.equal(err.input, 'AUTH ***');
    assert.doesNotMatch(inspect(err), /tOpSeCrEt-9/);
  });
});

describe('error shapes (no server)', () => {
  it('onUnexpectedFailure reports are masked, message and original error alike', () => {
    const seen: Array<Error & { originalError?: Error }> = [];
    const manager = new Manager({
      connectionString: 'redis://h',
      clientOptions: {},
      onUnexpectedFailure: (err) => seen.push(err),
    });
    reportFailure(manager, {} as never, 'error', new Error('at redis://u:orig-pw@h'), 'lost redis://u:msg-pw@h');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.message, 'lost redis://u:***@h');
    assert.equal(seen[0]!.originalError!.message, 'at redis://u:***@h');
  });
  it('coded() carries the code and props, and masks its message', () => {
    const err = coded(ErrorCodes.BAD_CONNECTION, 'via redis://u:pw@h and redis://:p#w/?x@h2', { extra: 1 });
    assert.equal(err.code, 'E_BAD_CONNECTION');
    assert.equal(err.extra, 1);
    assert.equal(err.message, 'via redis://u:***@h and redis://:***@h2');
  });
  it('invalidInput is a UsageError with E_INVALID_INPUT', () => {
    const err = invalidInput('`key` must be a string.');
    assert.equal(err.name, 'UsageError');
    assert.equal(err.code, ErrorCodes.INVALID_INPUT);
  });
  it('usageError is the runner’s shape: E_INVALID_ARGINS with problems', () => {
    const err = usageError('getCachedValue', ['"key" is required, but it was not defined.']);
    assert.equal(err.name, 'UsageError');
    assert.equal(err.code, ErrorCodes.INVALID_ARGINS);
    assert.deepEqual(err.problems, ['"key" is required, but it was not defined.']);
    assert.match(err.message, /Could not run getCachedValue\(\) because of a problem:\n• "key" is required/);
  });
  it('exitError is an Exception with code = exit = the exit name, raw, and the cause masked in the message', () => {
    const raw = { error: new Error('cannot reach redis://u:pw@h') };
    const err = exitError('getConnection', ErrorCodes.EXIT_FAILED, 'Could not connect.', raw);
    assert.equal(err.name, 'Exception');
    assert.equal(err.code, 'failed');
    assert.equal(err.exit, 'failed');
    assert.equal(err.raw, raw);
    assert.equal(err.message, '`getConnection` failed ("failed"). Could not connect.\ncannot reach redis://u:***@h');
  });
});

describe('connection errors vs command errors (no server)', () => {
  const connectionErrors: Error[] = [
    new ClientClosedError(),
    new ClientOfflineError(),
    new SocketClosedUnexpectedlyError(),
    new ConnectionTimeoutError(),
    new SocketTimeoutError(1000),
    new DisconnectsClientError(),
    new ReconnectStrategyError(new Error('gave up'), new Error('cause')),
    new NoReplyError(5000),
    Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }),
    Object.assign(new Error('destroyed'), { code: 'ERR_STREAM_DESTROYED' }),
  ];
  for (const err of connectionErrors) {
    it(`${err.constructor.name}${(err as { code?: string }).code ? ` (${(err as { code?: string }).code})` : ''} is a connection error`, () => {
      assert.equal(isConnectionError(err), true);
    });
  }
  it('also a subclass, and whatever its constructor is named (no reliance on names)', () => {
    class Renamed extends SocketClosedUnexpectedlyError {}
    Object.defineProperty(Renamed, 'name', { value: 'x' });
    assert.equal(isConnectionError(new Renamed()), true);
    const impostor = new Error('not one');
    Object.defineProperty(impostor, 'constructor', { value: { name: 'ClientClosedError' } });
    assert.equal(isConnectionError(impostor), false);
  });
  it("Redis's own replies and anything else are not", () => {
    for (const err of [
      new ErrorReply('OOM command not allowed'),
      new Error('x'),
      new TypeError('y'),
      'ECONNRESET',
      null,
    ]) {
      assert.equal(isConnectionError(err), false);
    }
  });
  it('writeFailure: a refused write is failed with E_REDIS_REFUSED, Redis’s reason, masked', () => {
    const { exit, report } = writeFailure(new ErrorReply('NOPERM redis://u:write-secret-7@h may not write'), 'set "k"');
    assert.equal(exit, 'failed');
    assert.equal((report.error as Error & { code: string }).code, ErrorCodes.REDIS_REFUSED);
    assert.equal(
      report.error.message,
      'Redis refused to set "k"; nothing was written: NOPERM redis://u:***@h may not write',
    );
    assert.equal((report.error as Error & { written: boolean }).written, false);
    assert.doesNotMatch(inspect(report.error), /write-secret-7/);
  });
  it("a failed MULTI gives each failed reply's reason, not node-redis's summary", () => {
    const multi = new MultiErrorReply(
      ['OK', new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value')] as never,
      [1],
    );
    assert.equal(redisReason(multi), 'WRONGTYPE Operation against a key holding the wrong kind of value');
    assert.equal(redisReason(new Error('plain')), 'plain');
    assert.equal(redisReason('text'), 'text');
    const { report } = writeFailure(multi, 'set "k"');
    assert.match(report.error.message, /WRONGTYPE/);
  });
  it('writeFailure: a lost connection is badConnection with E_BAD_CONNECTION', () => {
    const { exit, report } = writeFailure(new SocketClosedUnexpectedlyError(), 'set "k"');
    assert.equal(exit, 'badConnection');
    assert.equal((report.error as Error & { code: string }).code, ErrorCodes.BAD_CONNECTION);
  });
});
