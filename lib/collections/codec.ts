/**
 * How replicated collections are laid out in Redis, and how items are encoded. Other programs may read these.
 *
 * Names: database, collection and item key are each URI-encoded (`encodeURIComponent`), so none of them can
 * contain `{`, `}`, `/` or `:` and no name can reach outside its collection. A collection `C` of database `D`:
 *
 * | key                       | type   | holds                                                          |
 * |---------------------------|--------|----------------------------------------------------------------|
 * | `memis:{D/C}:i:<key>`     | hash   | one item: `m:seq` (the write's sequence number), `d:<field>` = the field's value as JSON |
 * | `memis:{D/C}:meta`        | hash   | `seq` (last sequence number), `epoch` (changes when the collection is re-created, e.g. after a restart) |
 * | `memis:{D/C}:keys`        | set    | the URI-encoded keys of the items (expired ones are pruned lazily by writes) |
 * | `memis:{D/C}:log`         | stream | the last changes (about 10,000), id `<seq>-0`, field `m` = the notification |
 * | `memis:{D/C}:ch`          | channel| notifications: `seq \n epoch \n op \n key \n ttlMs \n payload`, op `s` (set) or `d` (delete), payload the item as JSON |
 *
 * The `{D/C}` hash tag keeps a collection in one cluster slot. Item TTLs are Redis TTLs on the item hash.
 */
import { invalidInput } from '../errors';
import { describeValue, isDictionary } from '../options';

export interface CollectionKeys {
  prefix: string;
  item(key: string): string;
  itemPrefix: string;
  meta: string;
  index: string;
  log: string;
  channel: string;
}

function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw invalidInput(`The ${what} name must be a non-empty string (got ${describeValue(value)}).`);
  return value;
}

export function collectionKeys(database: unknown, collection: unknown): CollectionKeys {
  const d = encodeURIComponent(checkName(database, 'database'));
  const c = encodeURIComponent(checkName(collection, 'collection'));
  const prefix = `memis:{${d}/${c}}:`;
  const itemPrefix = `${prefix}i:`;
  return {
    prefix,
    itemPrefix,
    item: (key) => itemPrefix + key,
    meta: `${prefix}meta`,
    index: `${prefix}keys`,
    log: `${prefix}log`,
    channel: `${prefix}ch`,
  };
}

/** An item key as stored (URI-encoded). */
export function encodeItemKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0)
    throw invalidInput(`An item key must be a non-empty string (got ${describeValue(key)}).`);
  return encodeURIComponent(key);
}

/** The fields of an item: hash arguments (`d:<name>`, JSON) and the notification payload (the item as JSON). */
export interface EncodedItem {
  fields: string[];
  payload: string;
}

/** Refuse anything but a plain object as an item. */
export function assertPlainObject(data: unknown, key: string): asserts data is Record<string, unknown> {
  if (!isDictionary(data)) {
    throw invalidInput(
      `Item "${key}": only plain objects can be set (got ${describeValue(data)}); wrap other values in an object, e.g. { value: … }.`,
    );
  }
}

/** Encode an item; only plain objects whose field values JSON can carry exactly. */
export function encodeItem(data: unknown, key: string): EncodedItem {
  assertPlainObject(data, key);
  const fields: string[] = [];
  let payload = '{';
  for (const name of Object.keys(data)) {
    const value = data[name];
    const json = fieldJson(value, key, name);
    fields.push(`d:${name}`, json);
    payload += (payload.length > 1 ? ',' : '') + JSON.stringify(name) + ':' + json;
  }
  return { fields, payload: payload + '}' };
}

function fieldJson(value: unknown, key: string, name: string): string {
  const t = typeof value;
  if (value === undefined || t === 'function' || t === 'symbol' || t === 'bigint') {
    throw invalidInput(
      `Item "${key}", field "${name}": ${t === 'undefined' ? '`undefined`' : `a ${t}`} cannot be stored; use null or leave the field out.`,
    );
  }
  if (t === 'number' && !Number.isFinite(value))
    throw invalidInput(`Item "${key}", field "${name}": ${String(value)} cannot be stored exactly as JSON.`);
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw invalidInput(
      `Item "${key}", field "${name}": ${/circular/i.test((err as Error).message) ? 'a circular structure' : (err as Error).message} cannot be stored.`,
    );
  }
}

/** Decode a hash (an object, as HGETALL gives on RESP3, or flat field/value pairs) into the item. */
export function decodeHash(hash: string[] | Record<string, string>): { data: Record<string, unknown>; seq: number } {
  const item: { data: Record<string, unknown>; seq: number } = { data: {}, seq: 0 };
  if (Array.isArray(hash)) {
    for (let i = 0; i < hash.length; i += 2) take(item, hash[i]!, hash[i + 1]!);
  } else {
    for (const field in hash) take(item, field, hash[field]!);
  }
  return item;
}

/** One hash field into the item: `d:<name>` fields are the item's, `m:seq` the write's sequence number. */
function take(item: { data: Record<string, unknown>; seq: number }, field: string, text: string): void {
  if (field.charCodeAt(0) === 100 /* d */ && field.charCodeAt(1) === 58 /* : */) {
    const name = field.slice(2);
    const value = JSON.parse(text) as unknown;
    // An own data property even for `__proto__`, so no field name can reach a prototype.
    if (name === '__proto__')
      Object.defineProperty(item.data, name, { value, enumerable: true, writable: true, configurable: true });
    else item.data[name] = value;
  } else if (field === 'm:seq') {
    item.seq = Number(text);
  }
}

/** A notification, parsed. */
export interface Notification {
  seq: number;
  epoch: string;
  op: 's' | 'd';
  key: string;
  ttlMs: number;
  payload: string;
}

export function parseNotification(message: string): Notification | undefined {
  const a = message.indexOf('\n');
  const b = message.indexOf('\n', a + 1);
  const c = message.indexOf('\n', b + 1);
  const d = message.indexOf('\n', c + 1);
  const e = message.indexOf('\n', d + 1);
  if (a < 0 || b < 0 || c < 0 || d < 0 || e < 0) return undefined;
  const op = message.slice(b + 1, c);
  if (op !== 's' && op !== 'd') return undefined;
  return {
    seq: Number(message.slice(0, a)),
    epoch: message.slice(a + 1, b),
    op,
    key: decodeURIComponent(message.slice(c + 1, d)),
    ttlMs: Number(message.slice(d + 1, e)),
    payload: message.slice(e + 1),
  };
}

/** Deep equality of JSON values (what decides whether a write changed an item). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (
      !Object.prototype.hasOwnProperty.call(b, k) ||
      !sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
    )
      return false;
  }
  return true;
}

/** Item TTL: absent, or a positive number of seconds (fractions allowed, down to 1 ms). Returns milliseconds. */
export function ttlMs(ttl: unknown, key: string): number {
  if (ttl === undefined || ttl === null) return 0;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0.001) {
    throw invalidInput(`Item "${key}": ttl must be a positive number of seconds (got ${describeValue(ttl)}).`);
  }
  return Math.round(ttl * 1000);
}
