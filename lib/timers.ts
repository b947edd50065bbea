/** The longest delay a Node.js timer takes (2^31 − 1 ms, about 24.8 days); longer ones fire at once with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay clamped into what setTimeout/setInterval accept: 0 … 2^31 − 1 ms. Every duration a caller gives (a
 * timeout, an interval, a TTL turned into a timer) goes through this before it reaches a timer: a longer one
 * means "about 24.8 days", never "at once".
 */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms;
}
