/**
 * Keys and values of the cache machines: what is accepted, and how values are stored.
 *
 * Every value is stored as JSON text, strings included, so a read returns the type that was written
 * (`'1'` stays a string, `1` a number, `null` null). JSON rules apply inside objects and arrays: `undefined`
 * and functions there are dropped, `NaN` and `Infinity` become `null`, Dates become ISO strings.
 */
import { coded, ErrorCodes, invalidInput } from './errors';
import { describeValue } from './options';

/**
 * Whether a string is well-formed Unicode (no lone surrogate). Redis stores UTF-8, and a lone surrogate has no
 * UTF-8 form: node-redis would write U+FFFD, so '\uD800', '\uDBFF' and '\uDC00' would all be one Redis key.
 */
export function isWellFormed(s: string): boolean {
  const native = (s as unknown as { isWellFormed?: () => boolean }).isWellFormed;
  return native ? native.call(s) : !/\p{Cs}/u.test(s);
}

/** A key as Redis will see it: non-empty strings as they are, finite numbers as their decimal text. */
export function toKey(key: unknown, inputName = 'key'): string {
  if (typeof key === 'string') {
    if (key.length === 0) throw invalidInput(`\`${inputName}\` must be a non-empty string (got "").`);
    if (!isWellFormed(key))
      throw invalidInput(
        `\`${inputName}\` must be well-formed Unicode (got ${JSON.stringify(key)}, which has a lone surrogate).`,
      );
    return key;
  }
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  throw invalidInput(`\`${inputName}\` must be a non-empty string or a finite number (got ${describeValue(key)}).`);
}

/** JSON text for `value`; refuses what JSON cannot carry, naming the key. */
export function encodeValue(value: unknown, key: string): string {
  const kind = typeof value;
  if (value === undefined || kind === 'function' || kind === 'symbol') {
    throw invalidInput(
      `Cannot cache ${kind === 'undefined' ? '`undefined`' : `a ${kind}`} under key "${key}": the value must be JSON-serializable.`,
    );
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value) as string | undefined;
  } catch (err) {
    const why = /circular/i.test((err as Error).message)
      ? 'it contains a circular reference'
      : /BigInt/i.test((err as Error).message)
        ? 'it contains a BigInt'
        : (err as Error).message;
    throw invalidInput(`Cannot cache the value under key "${key}": ${why}.`);
  }
  // A `toJSON()` that returns undefined (or a function or symbol) leaves nothing to store.
  if (json === undefined) {
    throw invalidInput(
      `Cannot cache the value under key "${key}": its toJSON() returned undefined, so there is nothing to store.`,
    );
  }
  return json;
}

/** Decode what cacheValue stored; another program's non-JSON text is an error naming the key. */
export function decodeValue(text: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw coded(
      ErrorCodes.BAD_STORED_VALUE,
      `The value stored under key "${key}" is not JSON (it was not written by cacheValue), so it cannot be decoded.`,
    );
  }
}

/**
 * The longest `ttl` (seconds) taken: Redis refuses an expiry whose milliseconds overflow, with an error naming no
 * input; about 285,000 years, so whole milliseconds stay exact in a double.
 */
export const MAX_TTL_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

/** `ttl`: absent, or a positive whole number of seconds, at most `MAX_TTL_SECONDS`. */
export function toTtl(ttl: unknown): number | undefined {
  if (ttl === undefined || ttl === null) return undefined;
  if (typeof ttl === 'number' && Number.isInteger(ttl) && ttl > 0 && ttl <= MAX_TTL_SECONDS) return ttl;
  if (typeof ttl === 'number' && Number.isInteger(ttl) && ttl > MAX_TTL_SECONDS)
    throw invalidInput(`\`ttl\` must be at most ${MAX_TTL_SECONDS} seconds (got ${describeValue(ttl)}).`);
  throw invalidInput(`\`ttl\` must be a positive whole number of seconds (got ${describeValue(ttl)}).`);
}
