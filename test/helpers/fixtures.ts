/** Values every face must round-trip exactly through cacheValue → getCachedValue. */
export const roundTrip: Array<[string, unknown]> = [
  ['zero', 0],
  ['negative float', -12.5],
  ['false', false],
  ['true', true],
  ['null', null],
  ['empty string', ''],
  ['numeric string', '123'],
  ['string "null"', 'null'],
  ['unicode', 'héllo wörld ✓ 日本語 🎉'],
  ['empty array', []],
  ['nested arrays', [[1, [2, [3, []]]], 'x', null]],
  ['empty object', {}],
  ['nested object', { a: { b: { c: [1, { d: 'e' }] } }, '': 'empty key', 'with space': true }],
  ['large string', 'x'.repeat(100_000)],
];

/** Keys that are awkward for other stores but fine for Redis. */
export const oddKeys = ['with:colons', '{hash}tag', 'star*', 'spa ce', 'ünï©ødé', '\u0000nul', '123'];
