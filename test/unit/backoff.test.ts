import assert from 'node:assert/strict';
import { v3ReconnectStrategy } from '../../lib/meta';
import { RECONNECT_BASE_MS, RECONNECT_CAP_MS, reconnectDelay, reconnectStrategy } from '../../lib/connection/backoff';

/** The window attempt `n` draws from, as the README states it. */
const windowOf = (n: number) => Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** n);

describe('reconnect backoff (full jitter, no server)', () => {
  it('the documented bounds: base 50 ms, cap 1 s', () => {
    assert.equal(RECONNECT_BASE_MS, 50);
    assert.equal(RECONNECT_CAP_MS, 1000);
  });

  it('every delay is a whole number in [0, min(cap, base x 2^n)), for any attempt number and any random()', () => {
    const randoms = [0, 1e-9, 0.25, 0.5, 0.999999999, 1 - Number.EPSILON, 1, 2, -1, NaN, Infinity];
    for (let n = 0; n <= 200; n++) {
      for (const r of randoms) {
        const d = reconnectDelay(n, () => r);
        assert.ok(Number.isInteger(d), `attempt ${n}, random ${r}: ${d}`);
        assert.ok(d >= 0 && d < windowOf(n), `attempt ${n}, random ${r}: ${d} outside [0, ${windowOf(n)})`);
        assert.ok(d < RECONNECT_CAP_MS);
      }
    }
    for (const n of [-1, NaN, Infinity, 2 ** 53, 1.5]) {
      const d = reconnectDelay(n, () => 0.999);
      assert.ok(d >= 0 && d < RECONNECT_CAP_MS, `attempt ${n}: ${d}`);
    }
  });

  it('the window doubles from 100 ms to the 1 s cap, and the top of each window is reached', () => {
    const top = (n: number) => reconnectDelay(n, () => 0.99999);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map(top), [99, 199, 399, 799, 999, 999, 999, 999]);
    assert.equal(
      reconnectDelay(6, () => 0),
      0,
    );
  });

  it('jitter spreads a fleet over the whole window instead of retrying in lock-step', () => {
    const n = 10; // at the cap
    const delays = Array.from({ length: 2000 }, () => reconnectDelay(n));
    const distinct = new Set(delays).size;
    assert.ok(distinct > 500, `only ${distinct} distinct delays among 2000 clients`);
    // Uniform over [0, 1000): every 100 ms slice gets some clients (expected 200 each).
    for (let slice = 0; slice < 10; slice++) {
      const inSlice = delays.filter((d) => d >= slice * 100 && d < (slice + 1) * 100).length;
      assert.ok(inSlice > 100, `slice ${slice}: ${inSlice} of 2000`);
    }
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    assert.ok(Math.abs(mean - 500) < 50, `mean ${mean}`);
  });

  it('the strategy gives up during the first connect, then follows the policy or the caller’s own strategy', () => {
    let ready = false;
    const cause = new Error('ECONNREFUSED');
    const ours = reconnectStrategy(() => ready, undefined);
    assert.equal(ours(1, cause), cause, 'during the first connect: give up with the cause');
    ready = true;
    for (let n = 1; n < 50; n++) {
      const d = ours(n, cause);
      assert.ok(typeof d === 'number' && d >= 0 && d < windowOf(n), `attempt ${n}: ${String(d)}`);
    }
    assert.equal(reconnectStrategy(() => true, 250)(3, cause), 250);
    assert.equal(reconnectStrategy(() => true, false)(3, cause), false);
    // A caller's delay past what a timer takes is clamped at call time (else Node fires it after 1 ms).
    assert.equal(
      reconnectStrategy(
        () => true,
        () => 2 ** 31,
      )(3, cause),
      2 ** 31 - 1,
    );
    assert.equal(
      reconnectStrategy(
        () => true,
        () => Infinity,
      )(3, cause),
      2 ** 31 - 1,
    );
    const nan = reconnectStrategy(
      () => true,
      () => NaN,
    )(3, cause);
    assert.ok(typeof nan === 'number' && nan >= 0 && nan < windowOf(3), 'NaN falls back to our backoff');
    const v3 = reconnectStrategy(
      () => true,
      v3ReconnectStrategy(() => 2 ** 31, undefined, undefined),
    );
    assert.equal(v3(3, cause), 2 ** 31 - 1);
    assert.equal(
      reconnectStrategy(
        () => true,
        (n: number) => n * 7,
      )(3, cause),
      21,
    );
  });
});
