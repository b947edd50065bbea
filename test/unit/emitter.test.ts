import assert from 'node:assert/strict';
import { Emitter } from '../../lib/emitter';

class Probe extends Emitter<{ ping: [n: number] }> {
  protected readonly eventNames = ['ping'] as const;
  protected readonly emitterKind = 'probe';
  protected listenerFailed(): void {}
}

describe('emitter: odd event names get a clear TypeError, never an error from inside the message', () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const odd: Array<[string, unknown]> = [
    ['a BigInt', 10n],
    ['a Symbol', Symbol('sym')],
    ['undefined', undefined],
    ['null', null],
    ['a circular object', circular],
    [
      'an object whose toJSON throws',
      {
        toJSON: () => {
          throw new Error('toJSON bomb');
        },
      },
    ],
    ['a function', () => undefined],
    ['a number', 42],
    ['an unknown string', 'pong'],
    ['a 100,000-character string', 'x'.repeat(100_000)],
  ];
  for (const [what, name] of odd) {
    it(`${what}: on / once / multi / off throw a TypeError naming the known events`, () => {
      const e = new Probe() as unknown as {
        on(n: unknown, f: unknown): unknown;
        once(n: unknown, f: unknown): unknown;
        multi(n: unknown, f: unknown): unknown;
        off(n: unknown, f: unknown): unknown;
      };
      for (const call of [() => e.on(name, () => 1), () => e.once(name, () => 1)]) {
        assert.throws(call, (err: Error) => {
          assert.ok(err instanceof TypeError, `${err.name}: ${err.message}`);
          assert.match(err.message, /Unknown probe event .* known events: ping/);
          assert.ok(err.message.length < 500, 'the name is shortened');
          assert.doesNotMatch(err.message, /toJSON bomb|circular|BigInt/i);
          return true;
        });
      }
      if (typeof name === 'string') assert.throws(() => e.multi(name, () => 1), /Unknown probe event/);
      // off / removeListener refuse an unknown name as on does (issue 12: a typo no longer passes silently).
      assert.throws(
        () => e.off(name, () => 1),
        (err: Error) => err instanceof TypeError && /Unknown probe event/.test(err.message) && err.message.length < 500,
      );
    });
  }

  it('a known event with a listener that is not a function: a TypeError naming the event', () => {
    const e = new Probe() as unknown as { on(n: unknown, f: unknown): unknown };
    assert.throws(() => e.on('ping', 10n), /on\("ping", listener\): the listener must be a function/);
  });
});
