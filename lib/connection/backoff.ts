/**
 * The reconnect policy: exponential backoff with full jitter.
 *
 * After a drop node-redis reconnects at once; each failed attempt `n` (1, 2, …) then waits a delay drawn uniformly
 * from `[0, min(RECONNECT_CAP_MS, RECONNECT_BASE_MS × 2^n))`: below 100 ms, 200 ms, 400 ms, 800 ms, then below
 * 1 s for ever. Drawing the whole delay at random ("full jitter") rather than adding a little noise to a
 * fixed schedule spreads a fleet that lost the same server at the same moment over the whole window, so hundreds
 * of clients do not retry in lock-step, and no wait is longer than the cap, so a client is back at most
 * `RECONNECT_CAP_MS` after the server is (plus its handshake).
 */

import { MAX_TIMER_MS } from '../timers';

/** The first window (ms): attempt n waits below `RECONNECT_BASE_MS × 2^n`. */
export const RECONNECT_BASE_MS = 50;
/** No reconnect wait is this long or longer (ms). */
export const RECONNECT_CAP_MS = 1000;

/**
 * The delay (ms, a whole number) before reconnect attempt `retries`: uniform in `[0, min(cap, base × 2^retries))`.
 * `random` is `Math.random` unless a test gives its own.
 */
export function reconnectDelay(retries: number, random: () => number = Math.random): number {
  const n = Number.isFinite(retries) && retries > 0 ? Math.min(Math.floor(retries), 30) : 0;
  const window = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** n);
  const r = random();
  // Whatever `random` returns, stay inside the window.
  return Math.min(window - 1, Math.max(0, Math.floor((r >= 0 && r < 1 ? r : 0) * window)));
}

/** A node-redis 6 `reconnectStrategy`: a delay in ms, `false`, or an Error (give up). */
export type ReconnectStrategy = (retries: number, cause: Error) => number | false | Error;

/**
 * The `reconnectStrategy` every connection of ours gets. While the first connect is in progress it gives up at once
 * (node-redis would otherwise retry forever and `connect()` would never settle: the caller's timeout and error
 * classification take over). Once connected it reconnects in the background: with the caller's strategy if one was
 * given (`meta.socket.reconnectStrategy`, or v3's `retry_strategy`), else with `reconnectDelay`, never giving up
 * (also after a socket timeout).
 */
export function reconnectStrategy(isReady: () => boolean, userStrategy: unknown): ReconnectStrategy {
  return (retries: number, cause: Error) => {
    if (!isReady()) return cause instanceof Error ? cause : new Error(String(cause));
    if (userStrategy !== undefined) {
      const delay =
        typeof userStrategy === 'function'
          ? (userStrategy as ReconnectStrategy)(retries, cause)
          : (userStrategy as number | false);
      return typeof delay === 'number' ? strategyDelay(delay, retries) : delay;
    }
    return reconnectDelay(retries);
  };
}

/**
 * A delay returned by a caller's strategy, made safe for a timer at call time: above 2^31 − 1 ms (`Infinity`
 * included) it is clamped to that (Node would fire a longer timer after 1 ms: a reconnect storm); not a number
 * ≥ 0 (NaN, negative) falls back to our own backoff.
 */
export function strategyDelay(delay: number, retries: number): number {
  if (Number.isNaN(delay) || delay < 0) return reconnectDelay(retries);
  return Math.min(delay, MAX_TIMER_MS);
}
