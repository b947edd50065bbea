/**
 * The collections' codec (lib/collections/codec.ts) without a server: names and keys, items as hash fields and
 * as the notification payload, what is refused, notifications, TTLs and JSON equality.
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { isWellFormed } from '../../lib/values';
import {
  collectionKeys,
  decodeHash,
  decodeStored,
  encodeItem,
  encodeItemKey,
  parseNotification,
  sameJson,
  ttlMs,
} from '../../lib/collections/codec';
import { ErrorCodes } from '../../lib/errors';

/** The hash as Redis gives it back: RESP3 (an object) or RESP2 (flat pairs), with the write's `m:seq`. */
function stored(payload: string, seq: number, resp3: boolean): string[] | Record<string, string> {
  return pairs(['m:seq', String(seq), 'v', payload], resp3);
}

/** Flat field/value pairs, or the same as an object (RESP3). */
function pairs(flat: string[], resp3: boolean): string[] | Record<string, string> {
  if (!resp3) return flat;
  const hash: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
  return hash;
}

/** An item as stored in the first layout: one hash field per item field, `d:<name>` = the value as JSON. */
function storedFirstLayout(
  data: Record<string, unknown>,
  seq: number,
  resp3: boolean,
): string[] | Record<string, string> {
  const flat = ['m:seq', String(seq)];
  for (const [name, value] of Object.entries(data)) flat.push(`d:${name}`, JSON.stringify(value));
  return pairs(flat, resp3);
}

/** A refusal: E_INVALID_INPUT, a UsageError, a message naming the key (and field). */
function refuses(fn: () => unknown, ...named: string[]): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, ErrorCodes.INVALID_INPUT);
    assert.equal(err.name, 'UsageError');
    for (const n of named) assert.ok(err.message.includes(n), `"${err.message}" should name ${n}`);
    return true;
  });
}

/** JSON values that JSON round-trips exactly (no -0, no undefined inside arrays). */
const jsonValue = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
/** Items as callers build them (ordinary objects), field names anything, `__proto__` included. */
/**
 * The notification grammar as regular expressions over the split message: what parseNotification accepted before it
 * walked the message by hand. It must accept exactly the same messages, with the same result.
 */
function referenceParse(message: string): unknown {
  const parts = message.split('\n');
  if (parts.length < 8 || (parts.length - 4) % 4 !== 0) return undefined;
  const [seq, epoch, t, pt] = parts as [string, string, string, string];
  if (!/^[1-9][0-9]{0,15}$/.test(seq) || !(Number(seq) <= Number.MAX_SAFE_INTEGER)) return undefined;
  if (!/^[0-9A-Za-z]{1,40}$/.test(epoch)) return undefined;
  const stamp = /^(0|[1-9][0-9]{0,19})$/;
  if (!stamp.test(t) || !stamp.test(pt)) return undefined;
  const changes: unknown[] = [];
  for (let i = 4; i < parts.length; i += 4) {
    const [op, encoded, dl, payload] = parts.slice(i, i + 4) as [string, string, string, string];
    let key: string;
    try {
      key = decodeURIComponent(encoded);
    } catch {
      return undefined;
    }
    if ((op !== 's' && op !== 'd') || key === '' || !isWellFormed(key)) return undefined;
    if (!/^(0|[1-9][0-9]{0,15})$/.test(dl)) return undefined;
    if (op === 'd') {
      if (payload !== '' || dl !== '0') return undefined;
      changes.push({ op, key, deadline: 0 });
      continue;
    }
    let data: unknown;
    try {
      data = JSON.parse(payload);
    } catch {
      return undefined;
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
    changes.push({ op, key, deadline: Number(dl), data, json: payload });
  }
  return { seq: Number(seq), epoch, t, pt, rev: Number(t), changes };
}

const item = fc
  .dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'd:x', 'm:seq')), jsonValue, { maxKeys: 8 })
  .map((d) => JSON.parse(JSON.stringify(d)) as Record<string, unknown>);

describe('codec (no server)', () => {
  describe('names and keys', () => {
    it('lays a collection out under one hash tag, names URI-encoded', () => {
      const k = collectionKeys('region/nl', 'art:ists{x}');
      assert.equal(k.prefix, 'memis:{region%2Fnl/art%3Aists%7Bx%7D}:');
      assert.equal(k.meta, `${k.prefix}meta`);
      assert.equal(k.index, `${k.prefix}keys`);
      assert.equal(k.log, `${k.prefix}log`);
      assert.equal(k.channel, `${k.prefix}ch`);
      assert.equal(k.item(encodeItemKey('a b')), `${k.prefix}i:a%20b`);
      assert.equal(k.itemPrefix, `${k.prefix}i:`);
    });
    it('no name reaches outside its collection: `{`, `}`, `/`, `:` never appear raw', () => {
      fc.assert(
        fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (d, c) => {
          const inner = collectionKeys(d, c).prefix.slice('memis:{'.length, -'}:'.length);
          const [ed, ec, ...rest] = inner.split('/');
          assert.equal(rest.length, 0);
          assert.equal(decodeURIComponent(ed!), d);
          assert.equal(decodeURIComponent(ec!), c);
          assert.doesNotMatch(inner.replace('/', ''), /[{}/:]/);
        }),
      );
    });
    it('refuses empty or non-string names and keys, naming what was wrong', () => {
      refuses(() => collectionKeys('', 'c'), 'database');
      refuses(() => collectionKeys('d', 7), 'collection', '7');
      refuses(() => encodeItemKey(''), 'item key');
      refuses(() => encodeItemKey(null), 'item key', 'null');
    });
  });

  describe('items', () => {
    it('round-trips any JSON object through the hash (RESP2 and RESP3 shapes) and the payload', () => {
      fc.assert(
        fc.property(item, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.boolean(), (data, seq, resp3) => {
          const payload = encodeItem(data, 'k');
          const back = decodeHash(stored(payload, seq, resp3));
          assert.deepEqual(back.data, data);
          assert.equal(back.seq, seq);
          assert.deepEqual(JSON.parse(payload), data);
        }),
      );
    });
    it('reads items stored in the first layout (`d:<field>` fields) the same way', () => {
      fc.assert(
        fc.property(item, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.boolean(), (data, seq, resp3) => {
          const back = decodeHash(storedFirstLayout(data, seq, resp3));
          assert.deepEqual(back.data, data);
          assert.equal(back.seq, seq);
        }),
      );
    });
    it('reads the string layout `{"s","r","d","v"}` as the write script builds it', () => {
      fc.assert(
        fc.property(item, fc.nat(), fc.nat(), fc.nat(), (data, seqBelow, revBelow, deadline) => {
          const [seq, rev] = [seqBelow + 1, revBelow + 1];
          // The write script concatenates the numbers and the payload exactly like this.
          const text = `{"s":${seq},"r":${rev},"d":${deadline},"v":${encodeItem(data, 'k')}}`;
          // An item without a deadline has no `deadline` field (it is kept as the copy's entry: 8 bytes less each).
          assert.deepEqual(decodeStored(text), deadline > 0 ? { data, seq, rev, deadline } : { data, seq, rev });
        }),
      );
      // Stamps are ~1.8e15: exact as JSON numbers.
      assert.equal(decodeStored('{"s":1,"r":1796199895243206,"d":0,"v":{}}').rev, 1796199895243206);
      // Hashes (earlier layouts) go to decodeHash.
      assert.deepEqual(decodeStored(['v', '{"a":1}', 'm:seq', '3']).data, { a: 1 });
    });
    it('reads exactly the shape the write scripts build (as the scripts do), for any text near that shape, string or bytes', () => {
      // The reference, written independently (a regular expression for the header, as the Lua scripts read it): the
      // exact shape the write scripts build, numbers of 1-16 digits without leading zeros, safe integers, then `v`.
      const reference = (text: string) => {
        const m = /^\{"s":([1-9]\d{0,15}),"r":([1-9]\d{0,15}),"d":(0|[1-9]\d{0,15}),"v":/.exec(text);
        if (!m || !text.endsWith('}')) throw new Error('not an item');
        const [seq, rev, deadline] = [Number(m[1]), Number(m[2]), Number(m[3])];
        if (![seq, rev, deadline].every(Number.isSafeInteger)) throw new Error('not an item');
        const v = JSON.parse(text.slice(m[0].length, -1)) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        return deadline > 0 ? { data: v, seq, rev, deadline } : { data: v, seq, rev };
      };
      const outcome = (f: () => unknown) => {
        try {
          return { ok: f() };
        } catch {
          return 'throws';
        }
      };
      const edit = fc.tuple(
        fc.nat(),
        fc.nat(3),
        fc.constantFrom('0', '9', '}', '{', ',', '"', ' ', ':', 'x', '01', '-'),
      );
      fc.assert(
        fc.property(
          item,
          fc.nat(),
          fc.nat(),
          fc.nat(),
          fc.array(edit, { maxLength: 3 }),
          (data, seq, rev, deadline, edits) => {
            let text = `{"s":${seq},"r":${rev},"d":${deadline},"v":${encodeItem(data, 'k')}}`;
            for (const [at, drop, insert] of edits) {
              const i = at % (text.length + 1);
              text = text.slice(0, i) + insert + text.slice(i + drop);
            }
            assert.deepEqual(
              outcome(() => decodeStored(text)),
              outcome(() => reference(text)),
              text,
            );
            // As a snapshot window reads it: the bytes.
            assert.deepEqual(
              outcome(() => decodeStored(Buffer.from(text))),
              outcome(() => reference(text)),
              text,
            );
          },
        ),
        { numRuns: 2000 },
      );
    });
    it('refuses a string that is not this layout: not JSON, fields missing or not whole numbers, `v` not an object', () => {
      for (const bad of [
        'nope',
        '',
        'null',
        '[1]',
        '{"a":1}',
        '{"s":1,"r":2,"v":{}}',
        '{"s":-1,"r":2,"d":0,"v":{}}',
        '{"s":1.5,"r":2,"d":0,"v":{}}',
        '{"s":"1","r":2,"d":0,"v":{}}',
        '{"s":1,"r":2,"d":0,"v":[1]}',
        '{"s":1,"r":2,"d":0,"v":null}',
        '{"s":1,"r":2,"d":0}',
        '{"s":1e300,"r":2,"d":0,"v":{}}',
        '{"s":0,"r":2,"d":0,"v":{}}',
        '{"s":5,"r":0,"d":0,"v":{}}',
      ])
        assert.throws(() => decodeStored(bad), Error, bad);
    });
    it('`v` wins over leftover `d:` fields; a `v` that is not a JSON object is refused', () => {
      assert.deepEqual(decodeHash(['d:a', '1', 'v', '{"b":2}', 'm:seq', '3']).data, { b: 2 });
      assert.throws(() => decodeHash(['v', '[1]', 'm:seq', '3']), /not a JSON object/);
      assert.throws(() => decodeHash(['v', 'nope', 'm:seq', '3']));
    });
    it('keeps the types JSON carries: 0, false, null, "", nested arrays and objects, unicode', () => {
      const data = { n: 0, f: false, z: null, s: '', a: [1, [2, { b: 'é🎉' }]], o: { p: { q: -1.5 } } };
      assert.deepEqual(decodeHash(stored(encodeItem(data, 'k'), 1, true)).data, data);
    });
    it('a field named __proto__ stays an own field and reaches no prototype (both layouts)', () => {
      const data = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as Record<string, unknown>;
      const payload = encodeItem(data, 'k');
      for (const back of [
        decodeHash(stored(payload, 1, false)).data,
        decodeHash(['d:__proto__', '{"polluted":true}', 'd:x', '1', 'm:seq', '1']).data,
      ]) {
        assert.ok(Object.prototype.hasOwnProperty.call(back, '__proto__'));
        assert.deepEqual(Object.getOwnPropertyDescriptor(back, '__proto__')!.value, { polluted: true });
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(Object.getPrototypeOf(back), Object.prototype);
      }
      assert.deepEqual(JSON.parse(payload).x, 1);
    });
    it('ignores hash fields that are not the item’s (`v`, or `d:` in the first layout), `m:seq`, `m:rev` or `m:dl`', () => {
      // Without `m:rev` (written before revisions were stamps) the revision is `m:seq`.
      assert.deepEqual(decodeHash(['d:a', '1', 'x:other', 'junk', 'm:seq', '9']), {
        data: { a: 1 },
        seq: 9,
        rev: 9,
        deadline: 0,
      });
      assert.deepEqual(decodeHash(['m:dl', '1700000000000', 'v', '{"a":1}', 'x', 'y', 'm:seq', '4']), {
        data: { a: 1 },
        seq: 4,
        rev: 4,
        deadline: 1700000000000,
      });
      // Without a sequence number it is not an item of this pack (another program's hash).
      for (const bad of [
        ['v', '{"a":1}'],
        ['foo', 'bar'],
        ['v', '{"a":1}', 'm:seq', 'abc'],
        ['m:seq', '0', 'v', '{}'],
      ])
        assert.throws(() => decodeHash(bad), /not an item/, JSON.stringify(bad));
      assert.deepEqual(decodeHash(['v', '{"a":1}', 'm:seq', '3', 'm:rev', '1764655200000000']), {
        data: { a: 1 },
        seq: 3,
        rev: 1764655200000000,
        deadline: 0,
      });
    });
    it('refuses what is not a plain object, naming the key', () => {
      for (const bad of [null, undefined, 1, 'x', [1], new Date(0), new Map(), () => 1]) {
        refuses(() => encodeItem(bad, 'the-key'), '"the-key"', 'plain objects');
      }
    });
    it('refuses field values JSON cannot carry exactly, naming key and field', () => {
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const cases: Array<[unknown, string]> = [
        [undefined, '`undefined`'],
        [() => 1, 'a function'],
        [Symbol('s'), 'a symbol'],
        [10n, 'a bigint'],
        [NaN, 'NaN'],
        [Infinity, 'Infinity'],
        [-Infinity, '-Infinity'],
        [circular, 'circular'],
        [{ deep: [1, 2n] }, 'BigInt'],
      ];
      for (const [value, why] of cases) refuses(() => encodeItem({ ok: 1, bad: value }, 'k1'), '"k1"', '"bad"', why);
    });
  });

  describe('notifications', () => {
    const note = (parts: Array<string | number>) => parts.join('\n');
    it('parses seq, epoch, stamps and each change: op, key (decoded), deadline, data', () => {
      const n = parseNotification(note([42, 'ep1', 1001, 1000, 's', encodeItemKey('a b/c'), 1500, '{"t":"x\\ny"}']));
      assert.deepEqual(n, {
        seq: 42,
        epoch: 'ep1',
        t: '1001',
        pt: '1000',
        rev: 1001,
        changes: [{ op: 's', key: 'a b/c', deadline: 1500, data: { t: 'x\ny' }, json: '{"t":"x\\ny"}' }],
      });
      const d = parseNotification(note([7, 'e', 2, 1, 'd', 'k', 0, '']));
      assert.equal(typeof d === 'object' && d.changes[0]!.op, 'd');
    });
    it('a malformed message is a reason (a string), not an exception', () => {
      for (const bad of [
        '',
        'garbage',
        note([1, 'e', 2, 1, 's', 'k']),
        note([1, 'e', 2, 1, 'x', 'k', 0, '{}']),
        note([1, 'e', 2, 1, 's', 'k', 0, '{"a":1}\nmore']),
        note([1, 'e', 2, 1, 's', '%E0%A4%A', 0, '{}']),
        note([1, 'e', 2, 1, 's', 'k', 0, '[1]']),
        note([1, 'e', 2, 1, 's', 'k', -1, '{}']),
        note([0, 'e', 2, 1, 's', 'k', 0, '{}']),
        note(['1e3', 'e', 2, 1, 's', 'k', 0, '{}']),
        note([1, 'e-1', 2, 1, 's', 'k', 0, '{}']),
        note([1, 'e', 2, 1, 'd', 'k', 0, '{}']),
      ]) {
        assert.equal(typeof parseNotification(bad), 'string', JSON.stringify(bad));
      }
    });
    it('accepts exactly what the grammar accepts (a reference parser over the split message), whatever the bytes', () => {
      // Messages of one to three changes, each part mostly valid and sometimes a near miss, then edited: characters
      // that matter to the grammar inserted, replaced or removed anywhere (newlines, digits, `%`, neighbours of the
      // ranges [0-9A-Za-z], JSON punctuation, a lone surrogate). About half the messages are valid.
      const often = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<T>) =>
        fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: other, weight: 1 });
      const nearMiss = fc.constantFrom(
        '',
        '0',
        '00',
        '01',
        '-1',
        '1e3',
        '9007199254740991',
        '9007199254740992',
        '99999999999999999999',
        '1'.repeat(17),
        '1'.repeat(21),
        'E_1',
        'e`',
        'e@',
        'e[',
        'e/',
        'e:',
        'a'.repeat(40),
        'a'.repeat(41),
        '%41',
        '%E0%A4%A',
        '%ED%A0%80',
        '\uD800',
        's',
        'd',
        'x',
      );
      const decimal = fc.oneof(fc.constant('0'), fc.integer({ min: 1, max: 2 ** 53 + 2 }).map(String));
      const change = fc.oneof(
        fc.tuple(
          often(fc.constant('s'), nearMiss),
          often(fc.string({ minLength: 1 }).filter(isWellFormed).map(encodeItemKey), nearMiss),
          often(decimal, nearMiss),
          often(
            item.map((d) => JSON.stringify(d)),
            fc.constantFrom('', '{}', '[1]', 'null', '{"a":', '1', '{"a":1}\n'),
          ),
        ),
        fc.tuple(
          often(fc.constant('d'), nearMiss),
          often(fc.constant('k'), nearMiss),
          often(fc.constant('0'), nearMiss),
          often(fc.constant(''), fc.constantFrom('{}', ' ')),
        ),
      );
      const message = fc
        .tuple(
          often(
            decimal.filter((d) => d !== '0'),
            nearMiss,
          ),
          // The same epochs again and again (the parser takes one it checked last without checking it again).
          often(fc.oneof(fc.constantFrom('e1', 'Ab9', '0'), fc.stringMatching(/^[0-9A-Za-z]{1,40}$/)), nearMiss),
          often(decimal, nearMiss),
          often(decimal, nearMiss),
          fc.array(change, { minLength: 1, maxLength: 3 }),
        )
        .map(([seq, epoch, t, pt, changes]) => [seq, epoch, t, pt, ...changes.flat()].join('\n'));
      const edit = fc.tuple(
        fc.nat(),
        fc.nat(2),
        fc.constantFrom(
          '\n',
          '0',
          '1',
          '9',
          '/',
          ':',
          '@',
          'A',
          'Z',
          '[',
          '`',
          'a',
          'z',
          '{',
          '%',
          '"',
          ' ',
          '\uD800',
          '',
        ),
      );
      let accepted = 0;
      fc.assert(
        fc.property(message, fc.array(edit, { maxLength: 2 }), (valid, edits) => {
          let m = valid;
          for (const [at, remove, text] of edits) {
            const i = at % (m.length + 1);
            m = m.slice(0, i) + text + m.slice(i + remove);
          }
          const got = parseNotification(m);
          const want = referenceParse(m);
          if (want === undefined) assert.equal(typeof got, 'string', `accepted ${JSON.stringify(m)}`);
          else {
            assert.deepEqual(got, want, JSON.stringify(m));
            accepted++;
          }
        }),
        { numRuns: 5000 },
      );
      // Both sides of the grammar were exercised.
      assert.ok(accepted > 500 && accepted < 4500, `${accepted} of 5000 accepted`);
    });
    it('round-trips what setItem publishes for any key and item', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 2 ** 50 }),
          fc.string({ minLength: 1 }).filter(isWellFormed),
          item,
          fc.nat(),
          (seq, key, data, deadline) => {
            const payload = encodeItem(data, key);
            const n = parseNotification(note([seq, 'ep', 5, 4, 's', encodeItemKey(key), deadline, payload]));
            assert.ok(typeof n === 'object', String(n));
            assert.equal(n.changes[0]!.key, key);
            assert.equal(n.seq, seq);
            assert.equal(n.changes[0]!.deadline, deadline);
            assert.deepEqual(n.changes[0]!.data, data);
          },
        ),
      );
    });
  });

  describe('ttl and equality', () => {
    it('ttl: absent is 0, seconds become milliseconds (down to 1 ms)', () => {
      assert.equal(ttlMs(undefined, 'k'), 0);
      assert.equal(ttlMs(null, 'k'), 0);
      assert.equal(ttlMs(2, 'k'), 2000);
      assert.equal(ttlMs(0.0015, 'k'), 2);
      assert.equal(ttlMs(0.001, 'k'), 1);
    });
    it('ttl: refuses zero, negatives, tiny, non-finite and non-numbers, naming the key', () => {
      for (const bad of [0, -1, 0.0001, NaN, Infinity, '5', {}]) refuses(() => ttlMs(bad, 'tk'), '"tk"', 'ttl');
    });
    it('sameJson is JSON equality: key order does not matter, types do', () => {
      assert.ok(sameJson({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 }));
      assert.ok(!sameJson({ a: 1 }, { a: '1' }));
      assert.ok(!sameJson([1, 2], [2, 1]));
      assert.ok(!sameJson([], {}));
      assert.ok(!sameJson({ a: 1 }, { a: 1, b: 2 }));
      assert.ok(!sameJson({ a: undefined }, { b: undefined }));
      assert.ok(!sameJson(null, {}));
      fc.assert(
        fc.property(jsonValue, jsonValue, (a, b) => {
          assert.equal(sameJson(a, b), isDeepStrictEqual(a, b));
          assert.equal(sameJson(a, structuredClone(a)), true);
        }),
      );
    });
  });
});
