/**
 * How replicated collections are laid out in Redis, and how items and notifications are encoded. Other programs
 * may read these (the README's "Storage layout" repeats this table).
 *
 * Names: database, collection and item key are each URI-encoded (`encodeURIComponent`), so none of them can
 * contain `{`, `}`, `/` or `:` and no name can reach outside its collection. Names must be well-formed Unicode.
 * A collection `C` of database `D`:
 *
 * | key                   | type    | holds |
 * |-----------------------|---------|-------|
 * | `memis:{D/C}:i:<key>` | string  | one item, as JSON: `{"s":<seq>,"r":<rev>,"d":<deadline>,"v":<the item>}`: its last write's sequence number, its revision (that write's stamp `t`), its deadline (ms on Redis's clock, 0 without TTL; the key expires then), and the item itself as one JSON object |
 * | `memis:{D/C}:meta`    | hash    | `seq` (last sequence number), `epoch` (changes when the collection is re-created: a restart empty, a FLUSHALL, an evicted meta), `t` (the last write's stamp) |
 * | `memis:{D/C}:keys`    | set     | the URI-encoded keys of the items (may hold keys of expired items; loads prune them) |
 * | `memis:{D/C}:log`     | stream  | the last writes (about 10,000), id `<seq>-0`, fields `t` (stamp), then per change `o` (`s` set, `d` delete), `k` (key), `d` (deadline, 0 for none): no payloads; a batch is one entry |
 * | `memis:{D/C}:ch`      | channel | notifications: `seq \n epoch \n t \n pt`, then per change `\n op \n key \n deadline \n payload`, payload the item as JSON (empty for a delete); a batch is one notification |
 *
 * `t` is the write's stamp (Redis `TIME` in microseconds, strictly increasing within an epoch) and `pt` the stamp
 * of the write before it: a copy checks that each notification continues the chain it holds, and compares its
 * chain with the log and the meta in its periodic check, so a forged notification or a Redis that went back to an
 * older state is noticed. The `{D/C}` hash tag keeps a collection in one cluster slot.
 *
 * Items stored by earlier versions are hashes, and are still read: the second layout kept `v` (the item as JSON),
 * `m:seq`, `m:rev` and `m:dl` (absent without TTL) as hash fields; the first kept each field of the item in its own
 * hash field (`d:<field>` = the field's value as JSON) with `m:seq`. The next write of such an item stores it as a
 * string. One string per item is what makes loading a snapshot cheap: a window of items is one MGET, which Redis
 * answers without running a script per item, and one `JSON.parse` per item decodes it.
 */
import { invalidInput } from '../errors';
import { describeValue, isDictionary } from '../options';
import { isWellFormed } from '../values';

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
  if (!isWellFormed(value))
    throw invalidInput(
      `The ${what} name must be well-formed Unicode (got ${JSON.stringify(value)}, which has a lone surrogate).`,
    );
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

/**
 * An item key as stored (URI-encoded). A key whose stored form alone is over `MAX_PAYLOAD_BYTES` is refused: a
 * write publishes its key (a set, its key and JSON together: see `assertWriteSize`).
 */
export function encodeItemKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0)
    throw invalidInput(`An item key must be a non-empty string (got ${describeValue(key)}).`);
  if (!isWellFormed(key))
    throw invalidInput(`The item key ${keyName(key, true)} is not well-formed Unicode (it has a lone surrogate).`);
  const encoded = encodeURIComponent(key);
  if (encoded.length > MAX_PAYLOAD_BYTES)
    throw invalidInput(
      `Item ${keyName(key)}: its key is ${encoded.length} bytes as stored (URI-encoded); a write takes at most ${MAX_PAYLOAD_BYTES} bytes (4 MiB) of key and JSON, because its notification must stay well under Redis's pub/sub output buffer limit (client-output-buffer-limit pubsub).`,
    );
  return encoded;
}

/**
 * A single write's cap, the one a batch has: its key (as stored) and its item's JSON together at most
 * `MAX_PAYLOAD_BYTES`, since its notification carries both. `payload` is `encodeItem`'s result (itself capped).
 */
export function assertWriteSize(encodedKey: string, payload: string, key: string): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes: the exact count is needed only near the cap.
  if (encodedKey.length + payload.length * 3 <= MAX_PAYLOAD_BYTES) return;
  const bytes = encodedKey.length + Buffer.byteLength(payload);
  if (bytes > MAX_PAYLOAD_BYTES)
    throw invalidInput(
      `Item ${keyName(key)}: its key (${encodedKey.length} bytes as stored) and JSON (${bytes - encodedKey.length} bytes) are ${bytes} bytes; a write takes at most ${MAX_PAYLOAD_BYTES} bytes (4 MiB) of key and JSON, because its notification must stay well under Redis's pub/sub output buffer limit (client-output-buffer-limit pubsub).`,
    );
}

/**
 * An item key as messages name it: quoted, and cut short (with its length) when it is long. `json`: quoted as a
 * JSON string, for a key whose characters must be shown escaped (a lone surrogate).
 */
export function keyName(key: unknown, json = false): string {
  if (typeof key !== 'string') return `"${key as string}"`;
  let head = key;
  if (key.length > 100) {
    head = key.slice(0, 60);
    if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1); // never half a surrogate pair
    head += '…';
  }
  const quoted = json ? JSON.stringify(head) : `"${head}"`;
  return head === key ? quoted : `${quoted} (${key.length} characters)`;
}

/** The item key of a stored (URI-encoded) one; undefined when it does not decode. */
export function decodeItemKey(encoded: string): string | undefined {
  if (!encoded.includes('%')) return encoded;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

/** Refuse anything but a plain object as an item. */
export function assertPlainObject(data: unknown, key: string): asserts data is Record<string, unknown> {
  if (!isDictionary(data)) {
    throw invalidInput(
      `Item ${keyName(key)}: only plain objects can be set (got ${describeValue(data)}); wrap other values in an object, e.g. { value: … }.`,
    );
  }
}

/**
 * Encode an item as the JSON text stored in its `v` field and sent in its notification. Only plain objects whose
 * field values JSON can carry exactly; anything else is a usage error naming the key and the field.
 */
export function encodeItem(data: unknown, key: string): string {
  assertPlainObject(data, key);
  let payload = '{';
  for (const name of Object.keys(data)) {
    if (!isWellFormed(name))
      throw invalidInput(`Item ${keyName(key)}: the field name ${JSON.stringify(name)} is not well-formed Unicode.`);
    let value: unknown;
    try {
      value = data[name];
    } catch (err) {
      throw invalidInput(
        `Item ${keyName(key)}, field "${name}": reading it threw (${thrownMessage(err)}), so it cannot be stored.`,
      );
    }
    payload += (payload.length > 1 ? ',' : '') + JSON.stringify(name) + ':' + fieldJson(value, key, name);
  }
  payload += '}';
  const bytes = payload.length * 3 > MAX_PAYLOAD_BYTES ? Buffer.byteLength(payload) : payload.length;
  if (bytes > MAX_PAYLOAD_BYTES)
    throw invalidInput(
      `Item ${keyName(key)}: its JSON is ${bytes} bytes; an item takes at most ${MAX_PAYLOAD_BYTES} (4 MiB), because its notification must stay well under Redis's pub/sub output buffer limit (client-output-buffer-limit pubsub).`,
    );
  return payload;
}

/**
 * The most bytes of JSON one write publishes: one item, or all the items and keys of one batch (4 MiB). A write's
 * notification carries them whole, and Redis closes every subscriber whose pub/sub output buffer passes 32 MB at
 * once, or stays over 8 MB for 60 s (the default `client-output-buffer-limit pubsub 32mb 8mb 60`): a notification
 * of at most 4 MiB stays under half the soft limit, and eight of them still fit under the hard one.
 */
export const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/** What a thrown value says, for a usage error that wraps it. */
function thrownMessage(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'an unprintable value';
  }
}

function fieldJson(value: unknown, key: string, name: string): string {
  const t = typeof value;
  if (value === undefined || t === 'function' || t === 'symbol' || t === 'bigint') {
    throw invalidInput(
      `Item ${keyName(key)}, field "${name}": ${t === 'undefined' ? '`undefined`' : `a ${t}`} cannot be stored; use null or leave the field out.`,
    );
  }
  if (t === 'number' && !Number.isFinite(value))
    throw invalidInput(`Item ${keyName(key)}, field "${name}": ${String(value)} cannot be stored exactly as JSON.`);
  let json: string | undefined;
  try {
    json = JSON.stringify(value) as string | undefined;
  } catch (err) {
    throw invalidInput(
      `Item ${keyName(key)}, field "${name}": ${/circular/i.test((err as Error).message) ? 'a circular structure' : (err as Error).message} cannot be stored.`,
    );
  }
  if (json === undefined) {
    throw invalidInput(
      `Item ${keyName(key)}, field "${name}": its toJSON() returned undefined, so it cannot be stored.`,
    );
  }
  return json;
}

/**
 * An item as stored: its contents, last write's sequence number (`m:seq`), revision (`m:rev`, the last write's
 * stamp; `m:seq` for an item written before revisions were stamps) and deadline (`m:dl`, ms on Redis's clock; 0 for
 * none).
 */
export interface StoredItem {
  data: Record<string, unknown>;
  seq: number;
  rev: number;
  /** Absent for none (a decoded item is kept as a copy's entry: one field less per item held). */
  deadline?: number;
}

/**
 * An item as read from Redis: its string (the current layout), the flat field/value pairs of a hash (an item stored
 * by an earlier version), or null when there is none.
 */
export type StoredValue = string | Buffer | string[] | null;

const ITEM_NUMBER = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
const POSITIVE = (n: unknown): n is number => ITEM_NUMBER(n) && n > 0;

/**
 * Decode an item as stored (see StoredValue; not null). Throws on anything this pack did not write: a value that is
 * not JSON, a JSON that is not the item layout, an item that is not a JSON object.
 */
export function decodeStored(stored: string | Buffer | string[]): StoredItem {
  // Only the exact shape the write scripts build is an item: the scripts read an item's revision with the same
  // grammar (scripts.ts `header`), so a string that one side took for an item with some revision and the other for
  // a foreign key cannot be made (e.g. a huge "r" raising every later stamp past what copies accept).
  const item =
    typeof stored === 'string'
      ? decodeWritten(stored)
      : Buffer.isBuffer(stored)
        ? decodeWrittenBytes(stored)
        : undefined;
  if (item) return item;
  if (typeof stored === 'string' || Buffer.isBuffer(stored)) throw new Error('not an item of this pack');
  return decodeHash(stored);
}

/** `tag` (ASCII) at `at` in `bytes`, followed by 1–16 digits; false otherwise. Sets digitsEnd and digitsValue. */
function bytesDigitsAt(bytes: Buffer, at: number, tag: string): boolean {
  if (!startsWithBytes(bytes, at, tag)) return false;
  let i = at + tag.length;
  const start = i;
  let n = 0;
  for (; i < bytes.length && i - start < 17; i++) {
    const c = bytes[i]! - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  if (i === start || i - start > 16 || (i - start > 1 && bytes[start] === 48) || !Number.isSafeInteger(n)) return false;
  digitsEnd = i;
  digitsValue = n;
  return true;
}

/** decodeWritten on the bytes of the item (a snapshot window's reply): only the item's JSON becomes a string. */
function decodeWrittenBytes(bytes: Buffer): StoredItem | undefined {
  if (bytes[bytes.length - 1] !== 125 /* } */ || !bytesDigitsAt(bytes, 0, '{"s":')) return undefined;
  const seq = digitsValue;
  if (!bytesDigitsAt(bytes, digitsEnd, ',"r":')) return undefined;
  const rev = digitsValue;
  if (!bytesDigitsAt(bytes, digitsEnd, ',"d":')) return undefined;
  const deadline = digitsValue;
  if (!startsWithBytes(bytes, digitsEnd, ',"v":')) return undefined;
  if (seq === 0 || rev === 0) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString('utf8', digitsEnd + 5, bytes.length - 1));
  } catch {
    return undefined;
  }
  if (!isDictionary(data)) return undefined;
  return deadline > 0 ? { data, seq, rev, deadline } : { data, seq, rev };
}

function startsWithBytes(bytes: Buffer, at: number, tag: string): boolean {
  if (at + tag.length > bytes.length) return false;
  for (let k = 0; k < tag.length; k++) if (bytes[at + k] !== tag.charCodeAt(k)) return false;
  return true;
}

/** Where the last `digitsAt` ended, and the number it read. */
let digitsEnd = 0;
let digitsValue = 0;

/** `tag` (e.g. `,"r":`) at `at` followed by 1–16 digits; false otherwise. Sets digitsEnd and digitsValue. */
function digitsAt(text: string, at: number, tag: string): boolean {
  if (!text.startsWith(tag, at)) return false;
  let i = at + tag.length;
  const start = i;
  let n = 0;
  for (; i < text.length && i - start < 17; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  if (i === start || i - start > 16 || (i - start > 1 && text.charCodeAt(start) === 48)) return false;
  if (!Number.isSafeInteger(n)) return false;
  digitsEnd = i;
  digitsValue = n;
  return true;
}

/**
 * An item exactly as the write scripts build it (`{"s":…,"r":…,"d":…,"v":…}`): the numbers read from the text and
 * only the item's JSON parsed (a third cheaper than parsing the whole string, measured on 10-field items). Undefined
 * when the text has any other shape (then it is not an item of this pack).
 */
function decodeWritten(text: string): StoredItem | undefined {
  if (text.charCodeAt(text.length - 1) !== 125 /* } */ || !digitsAt(text, 0, '{"s":')) return undefined;
  const seq = digitsValue;
  if (!digitsAt(text, digitsEnd, ',"r":')) return undefined;
  const rev = digitsValue;
  if (!digitsAt(text, digitsEnd, ',"d":')) return undefined;
  const deadline = digitsValue;
  if (!text.startsWith(',"v":', digitsEnd) || seq === 0 || rev === 0) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text.slice(digitsEnd + 5, text.length - 1));
  } catch {
    return undefined; // e.g. more members after `v`: the whole string is read as JSON instead
  }
  if (!isDictionary(data)) return undefined;
  return deadline > 0 ? { data, seq, rev, deadline } : { data, seq, rev };
}

/**
 * Decode a hash (an object, as HGETALL gives on RESP3, or flat field/value pairs) into the item: its `v` (the item
 * as JSON), or, for an item stored in the first layout, its `d:<field>` fields. Throws on what this pack did not
 * write: no sequence number (`m:seq`), a value that is not JSON or not an object.
 */
export function decodeHash(hash: string[] | Record<string, string>): StoredItem {
  const item: StoredItem = { data: {}, seq: 0, rev: 0, deadline: 0 };
  let v: string | undefined;
  let old: string[] | undefined;
  const take = (field: string, text: string): void => {
    if (field === 'v') v = text;
    else if (field === 'm:seq') item.seq = Number(text);
    else if (field === 'm:rev') {
      const rev = Number(text);
      item.rev = ITEM_NUMBER(rev) ? rev : 0;
    } else if (field === 'm:dl') item.deadline = Number(text) || 0;
    else if (field.charCodeAt(0) === 100 /* d */ && field.charCodeAt(1) === 58 /* : */) (old ??= []).push(field, text);
  };
  if (Array.isArray(hash)) {
    for (let i = 0; i < hash.length; i += 2) take(hash[i]!, hash[i + 1]!);
  } else {
    for (const field in hash) take(field, hash[field]!);
  }
  // Every item this pack wrote has a sequence number: a hash without one is another program's.
  if (!POSITIVE(item.seq)) throw new Error('not an item of this pack (no sequence number)');
  if (item.rev === 0) item.rev = item.seq;
  if (v !== undefined) {
    const data = JSON.parse(v) as unknown;
    if (!isDictionary(data)) throw new Error('the item is not a JSON object');
    item.data = data;
  } else if (old) {
    for (let i = 0; i < old.length; i += 2) setField(item.data, old[i]!.slice(2), JSON.parse(old[i + 1]!) as unknown);
  }
  return item;
}

/** An own data property even for `__proto__`, so no field name can reach a prototype. */
function setField(data: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__')
    Object.defineProperty(data, name, { value, enumerable: true, writable: true, configurable: true });
  else data[name] = value;
}

/** One change of a write: a set (with the new contents) or a delete of one item. */
export interface Change {
  op: 's' | 'd';
  key: string;
  /** The item's deadline, ms since epoch on Redis's clock; 0 for none. */
  deadline: number;
  /** The new contents (`s` only). */
  data?: Record<string, unknown>;
  /** The new contents as the JSON text they were parsed from (`s` from a notification only). */
  json?: string;
}

/**
 * A notification, parsed: one write, with its changes (one for setItem/deleteItem, one per changed item for a
 * writeItems batch), each as `op \n key \n deadline \n payload` after the header.
 */
export interface Notification {
  seq: number;
  epoch: string;
  /** The write's stamp, and the stamp of the write before it in this epoch ('0' for the first). */
  t: string;
  pt: string;
  /** `t` as a number: the revision of the items the write sets. */
  rev: number;
  changes: Change[];
}

const SEQ = /^[1-9][0-9]{0,15}$/;
const STAMP = /^(0|[1-9][0-9]{0,19})$/;
const DEADLINE = /^(0|[1-9][0-9]{0,15})$/;

/** Code units of the notification grammar. */
const ZERO = 48;
const NINE = 57;

/**
 * The value of `s[start, end)` when it is a decimal number of 1 to `max` digits without a leading zero (a lone `0`
 * only when `zero`), else -1: what the regular expressions SEQ (`max` 16), STAMP (20, zero) and DEADLINE (16, zero)
 * accept. Read while checking: exact up to 2^53 - 1 (no intermediate sum exceeds the value); above, Number()'s.
 */
function decimal(s: string, start: number, end: number, max: number, zero: boolean): number {
  const length = end - start;
  if (length < 1 || length > max) return -1;
  const first = s.charCodeAt(start);
  if (first === ZERO) return zero && length === 1 ? 0 : -1;
  if (first < ZERO || first > NINE) return -1;
  let value = first - ZERO;
  for (let i = start + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < ZERO || c > NINE) return -1;
    value = value * 10 + (c - ZERO);
  }
  return value <= Number.MAX_SAFE_INTEGER ? value : Number(s.slice(start, end));
}

/** Whether `s[start, end)` is an epoch: 1 to 40 ASCII letters and digits (`[0-9A-Za-z]{1,40}`). */
function isEpoch(s: string, start: number, end: number): boolean {
  const length = end - start;
  if (length < 1 || length > 40) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= ZERO && c <= NINE) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return false;
  }
  return true;
}

/** The last epoch parseNotification checked (it starts as one that passes the check). */
let lastEpoch = '0';

/** The reason a message with too few lines, or a number of lines that is not 4 + 4k, is refused. */
function lineCountReason(message: string): string {
  let lines = 1;
  for (let i = message.indexOf('\n'); i >= 0; i = message.indexOf('\n', i + 1)) lines++;
  return `${lines} lines`;
}

/**
 * Parse a notification. Everything on the channel is untrusted (anyone allowed to PUBLISH there can send
 * anything): returns the reason it is refused instead of throwing.
 *
 * The grammar (see the module comment): `seq \n epoch \n t \n pt`, then one or more changes `op \n key \n
 * deadline \n payload`; seq `[1-9][0-9]{0,15}` (at most 2^53 - 1), epoch `[0-9A-Za-z]{1,40}`, stamps
 * `0|[1-9][0-9]{0,19}`, op `s` or `d`, key URI-encoded well-formed Unicode, deadline `0|[1-9][0-9]{0,15}`, payload
 * a JSON object (`s`) or empty with deadline 0 (`d`). A message is accepted whole or refused whole.
 *
 * Runs once per message on every subscriber, so it walks the message once with `indexOf` and checks the numbers
 * by character code, instead of splitting it and testing each part with a regular expression: for a 10-field item,
 * ~1.5 → ~1.1 µs, of which JSON.parse is ~0.7 (test/unit/codec.test.ts checks it against that reference grammar).
 */
export function parseNotification(message: unknown): Notification | string {
  if (typeof message !== 'string') return 'not a string';
  if (message.length > 512 * 1024 * 1024) return 'too long';
  const e1 = message.indexOf('\n');
  const e2 = e1 < 0 ? -1 : message.indexOf('\n', e1 + 1);
  const e3 = e2 < 0 ? -1 : message.indexOf('\n', e2 + 1);
  const e4 = e3 < 0 ? -1 : message.indexOf('\n', e3 + 1);
  if (e4 < 0) return lineCountReason(message);
  const seq = decimal(message, 0, e1, 16, false);
  if (seq < 0 || seq > Number.MAX_SAFE_INTEGER) return 'bad sequence number';
  // A collection keeps its epoch for a long time: one already checked is taken as it is (no check, no substring).
  let epoch = lastEpoch;
  if (e2 - e1 - 1 !== epoch.length || !message.startsWith(epoch, e1 + 1)) {
    if (!isEpoch(message, e1 + 1, e2)) return 'bad epoch';
    epoch = lastEpoch = message.slice(e1 + 1, e2);
  }
  const rev = decimal(message, e2 + 1, e3, 20, true);
  if (rev < 0 || decimal(message, e3 + 1, e4, 20, true) < 0) return 'bad stamp';
  const changes: Change[] = [];
  // Each change: `op \n key \n deadline \n payload`, the payload ending at the next newline or the message's end.
  for (let at = e4 + 1; ;) {
    const opEnd = message.indexOf('\n', at);
    const keyEnd = opEnd < 0 ? -1 : message.indexOf('\n', opEnd + 1);
    const dlEnd = keyEnd < 0 ? -1 : message.indexOf('\n', keyEnd + 1);
    if (dlEnd < 0) return lineCountReason(message);
    let end = message.indexOf('\n', dlEnd + 1);
    const last = end < 0;
    if (last) end = message.length;
    const op = opEnd === at + 1 ? message.charCodeAt(at) : 0;
    if (op !== 115 /* s */ && op !== 100 /* d */) return 'bad operation';
    const key = decodeItemKey(message.slice(opEnd + 1, keyEnd));
    if (key === undefined || key === '' || !isWellFormed(key)) return 'bad key';
    const deadline = decimal(message, keyEnd + 1, dlEnd, 16, true);
    if (deadline < 0) return 'bad deadline';
    if (op === 100) {
      if (end !== dlEnd + 1 || deadline !== 0) return 'bad delete';
      changes.push({ op: 'd', key, deadline: 0 });
    } else {
      const json = message.slice(dlEnd + 1, end);
      let data: unknown;
      try {
        data = JSON.parse(json);
      } catch {
        return 'payload is not JSON';
      }
      // What JSON.parse returns is a plain object, an array or a primitive: only the first is an item.
      if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'payload is not an object';
      changes.push({ op: 's', key, deadline, data: data as Record<string, unknown>, json });
    }
    if (last) break;
    at = end + 1;
  }
  return {
    seq,
    epoch,
    t: message.slice(e2 + 1, e3),
    pt: message.slice(e3 + 1, e4),
    rev,
    changes,
  };
}

/** A change log entry: the write's sequence number, stamp and changes (keys and deadlines, no contents). */
export interface LogEntry {
  seq: number;
  t: string;
  changes: Array<{ op: 's' | 'd'; key: string; deadline: number }>;
}

/** Parse a log entry from XRANGE's raw reply (`[id, [field, value, …]]`); a string says why it is refused. */
export function parseLogEntry(raw: unknown): LogEntry | string {
  if (!Array.isArray(raw) || raw.length !== 2 || typeof raw[0] !== 'string' || !Array.isArray(raw[1]))
    return 'not a stream entry';
  const id = raw[0];
  const fields = raw[1] as unknown[];
  const dash = id.indexOf('-');
  const seq = id.slice(0, dash);
  if (!SEQ.test(seq) || id.slice(dash + 1) !== '0') return `bad id ${id}`;
  const entry: LogEntry = { seq: Number(seq), t: '', changes: [] };
  let op: string | undefined;
  let key: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const f = String(fields[i]);
    const v = String(fields[i + 1]);
    if (f === 't') entry.t = v;
    else if (f === 'o') op = v;
    else if (f === 'k') key = decodeItemKey(v);
    else if (f === 'd') {
      if ((op !== 's' && op !== 'd') || key === undefined || !DEADLINE.test(v)) return `bad change in entry ${id}`;
      entry.changes.push({ op, key, deadline: Number(v) });
      op = key = undefined;
    }
  }
  if (!STAMP.test(entry.t) || entry.changes.length === 0) return `bad entry ${id}`;
  return entry;
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

/** The longest TTL an item takes: 100 years (longer ones are refused before anything is written). */
export const MAX_TTL_SECONDS = 100 * 365 * 24 * 3600;

/** Item TTL: absent, or a positive number of seconds (fractions allowed, down to 1 ms). Returns milliseconds. */
export function ttlMs(ttl: unknown, key: string): number {
  if (ttl === undefined || ttl === null) return 0;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0.001 || ttl > MAX_TTL_SECONDS) {
    throw invalidInput(
      `Item ${keyName(key)}: ttl must be a positive number of seconds, at most ${MAX_TTL_SECONDS} (100 years) (got ${describeValue(ttl)}).`,
    );
  }
  return Math.round(ttl * 1000);
}

/**
 * A write's condition: absent (no condition), or the revision the item must have, 0 meaning "absent". Returns the
 * script argument ('' for none).
 */
export function ifRevisionArg(ifRevision: unknown, key: string): string {
  if (ifRevision === undefined) return '';
  if (typeof ifRevision !== 'number' || !Number.isSafeInteger(ifRevision) || ifRevision < 0) {
    throw invalidInput(
      `Item ${keyName(key)}: ifRevision must be a revision (a whole number ≥ 0; 0 means "only if absent") (got ${describeValue(ifRevision)}).`,
    );
  }
  return String(ifRevision);
}

/** The most operations one batch (writeItems) takes. */
export const MAX_BATCH = 1000;

/** One operation of a batch: set an item (with an optional TTL) or delete one, each with an optional condition. */
export type WriteOperation =
  | { op: 'set'; key: string; data: Record<string, unknown>; ttl?: number; ifRevision?: number }
  | { op: 'delete'; key: string; ifRevision?: number };

const OPTION_NAMES: Record<WriteOperation['op'], ReadonlySet<string>> = {
  set: new Set(['op', 'key', 'data', 'ttl', 'ifRevision']),
  delete: new Set(['op', 'key', 'ifRevision']),
};

/**
 * The script arguments of a batch (5 per operation) and the item keys, after checking every operation: a usage
 * error naming the operation and key before anything is sent.
 */
export function encodeOperations(operations: unknown): { encodedKeys: string[]; args: string[] } {
  if (!Array.isArray(operations) || operations.length === 0)
    throw invalidInput(`\`operations\` must be a non-empty array (got ${describeValue(operations)}).`);
  if (operations.length > MAX_BATCH)
    throw invalidInput(`A batch takes at most ${MAX_BATCH} operations (got ${operations.length}).`);
  const encodedKeys: string[] = [];
  const args: string[] = [];
  const seen = new Set<string>();
  let bytes = 0;
  for (let i = 0; i < operations.length; i++) {
    if (!(i in operations))
      throw invalidInput(`Operation ${i + 1} of the batch is missing (a hole in the array); give every operation.`);
    let key: string | undefined;
    try {
      const o: unknown = operations[i];
      if (!isDictionary(o) || (o.op !== 'set' && o.op !== 'delete'))
        throw invalidInput(
          `Operation ${i + 1} of the batch must be { op: 'set', key, data, ttl?, ifRevision? } or { op: 'delete', key, ifRevision? } (got ${describeValue(o)}).`,
        );
      key = o.key as string;
      const encoded = encodeItemKey(key);
      for (const name of Object.keys(o))
        if (!OPTION_NAMES[o.op].has(name))
          throw invalidInput(
            `Operation ${i + 1} of the batch (${keyName(key)}): unknown option \`${name}\` for ${o.op}.`,
          );
      if (seen.has(key))
        throw invalidInput(
          `Operation ${i + 1} of the batch: the key ${keyName(key)} appears twice; a batch writes each item at most once.`,
        );
      seen.add(key);
      const condition = ifRevisionArg(o.ifRevision, key);
      encodedKeys.push(encoded);
      bytes += encoded.length;
      if (o.op === 'set') {
        const payload = encodeItem(o.data, key);
        // UTF-8 bytes, counted exactly: an estimate in UTF-16 units let 8 MB of 'é' pass as 4 MB.
        bytes += Buffer.byteLength(payload);
        args.push('s', encoded, String(ttlMs(o.ttl, key)), condition, payload);
      } else args.push('d', encoded, '0', condition, '');
      if (bytes > MAX_PAYLOAD_BYTES)
        throw invalidInput(
          `The batch is over ${MAX_PAYLOAD_BYTES} bytes (4 MiB) of keys and JSON at operation ${i + 1} (${keyName(key)}); split it: its notification must stay well under Redis's pub/sub output buffer limit (client-output-buffer-limit pubsub).`,
        );
    } catch (err) {
      if ((err as Error | undefined)?.name === 'UsageError') throw err;
      throw invalidInput(
        `Operation ${i + 1} of the batch${typeof key === 'string' ? ` (${keyName(key)})` : ''}: reading it threw (${thrownMessage(err)}).`,
      );
    }
  }
  return { encodedKeys, args };
}
