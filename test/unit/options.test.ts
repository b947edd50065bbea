/**
 * Option translation and input checks without a server: connection strings, client options, describing values in
 * messages, cache keys and values, TTLs, Cluster/Sentinel topology, and which secrets get registered.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCodes } from '../../lib/errors';
import { buildClientOptions, connectionStringProblem, describeValue, isDictionary } from '../../lib/options';
import { redact, Secrets } from '../../lib/secrets';
import { topologyOf } from '../../lib/topology';
import { decodeValue, encodeValue, MAX_TTL_SECONDS, toKey, toTtl } from '../../lib/values';

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, ErrorCodes.INVALID_INPUT);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('connection strings and client options (no server)', () => {
  it('accepts redis:, rediss: and unix: URLs', () => {
    for (const ok of ['redis://127.0.0.1:6379/0', 'rediss://u:p@h:6380', 'redis://h', 'unix:///tmp/r.sock'])
      assert.equal(connectionStringProblem(ok), undefined, ok);
  });
  it('says why a connection string is unusable, never quoting its password', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['', /non-empty string/],
      [42, /non-empty string.*got 42/],
      ['not a url', /not a valid URL/],
      ['http://u:pw1234@h', /scheme "http:"/],
      ['redis://u:pw1234@h/abc', /database "abc"/],
    ];
    for (const [input, why] of cases) {
      const problem = connectionStringProblem(input);
      assert.match(problem ?? '', why, String(input));
      assert.doesNotMatch(problem!, /pw1234/);
    }
  });
  it('builds node-redis options: URL, fail-fast offline queue, no per-command timer, caller options win', () => {
    const o = buildClientOptions('redis://h:1', { socket: { noDelay: false }, name: 'app' }) as Record<string, unknown>;
    assert.equal(o.url, 'redis://h:1');
    assert.equal(o.disableOfflineQueue, true);
    assert.deepEqual(o.commandOptions, { timeout: 0 });
    assert.deepEqual(o.socket, { noDelay: false });
    assert.equal(o.name, 'app');
    assert.equal(o.RESP, undefined);
    const legacy = buildClientOptions('redis://h', { disableOfflineQueue: true }, true) as Record<string, unknown>;
    assert.equal(legacy.RESP, 2);
    assert.equal(legacy.disableOfflineQueue, true, "the caller's choice wins over the legacy default");
    assert.equal((buildClientOptions('redis://h', {}, true) as Record<string, unknown>).disableOfflineQueue, false);
  });
  it('does not share the socket object with the caller', () => {
    const socket = { noDelay: true };
    const o = buildClientOptions('redis://h', { socket }) as { socket: Record<string, unknown> };
    o.socket.reconnectStrategy = () => 1;
    assert.deepEqual(socket, { noDelay: true });
  });
  it("keeps the URL password (raw and decoded), meta.password and TLS secrets among a manager's secrets", () => {
    const secrets = new Secrets();
    secrets.addFrom('redis://u:p%40ss-unit-1@h', {
      password: 'meta-pass-unit-2',
      socket: { key: 'tls-key-unit-3', passphrase: Buffer.from('phrase-unit-4') },
    });
    const text = 'p%40ss-unit-1 p@ss-unit-1 meta-pass-unit-2 tls-key-unit-3 phrase-unit-4';
    assert.equal(redact(text, secrets), '*** *** *** *** ***');
    assert.equal(redact(text), text, 'no process-wide list');
    assert.doesNotThrow(() => new Secrets().addFrom('not a url', {}));
  });
});

describe('malformed percent-encoding in a connection string (no server)', () => {
  it('is a problem at createManager, without the password in the message', () => {
    for (const bad of ['redis://:pw%zz@127.0.0.1:6380', 'redis://us%er:secret@127.0.0.1:6380', 'redis://:%E0%A4%A@h']) {
      const problem = connectionStringProblem(bad);
      assert.ok(problem?.includes('malformed percent-encoding'), `${bad}: ${problem}`);
      assert.ok(!String(problem).includes('pw%zz') && !String(problem).includes('secret'), problem);
    }
    assert.equal(connectionStringProblem('redis://:p%25w@127.0.0.1:6380'), undefined);
  });
});

describe('describing values in messages (no server)', () => {
  it('says what a value is, never a long or large value itself', () => {
    assert.equal(describeValue(null), 'null');
    assert.equal(describeValue(undefined), 'undefined');
    assert.equal(describeValue([1]), 'an array');
    assert.equal(describeValue('short'), '"short"');
    assert.equal(describeValue('x'.repeat(61)), 'a string of 61 characters');
    assert.equal(describeValue({ a: 1 }), 'a dictionary');
    assert.equal(describeValue(new Date(0)), 'an instance of Date');
    assert.equal(describeValue(Object.create(null)), 'a dictionary');
    assert.equal(
      describeValue(() => 1),
      'a function',
    );
    assert.equal(describeValue(5n), 'a BigInt');
    assert.equal(describeValue(NaN), 'NaN');
    assert.equal(describeValue(Symbol('s')), 'symbol');
  });
  it('isDictionary: plain objects only', () => {
    assert.ok(isDictionary({}) && isDictionary(Object.create(null)));
    for (const v of [null, [], new Date(), new Map(), () => 1, 'x', 1]) assert.ok(!isDictionary(v));
  });
});

describe('cache keys, values and TTLs (no server)', () => {
  it('keys: non-empty strings as they are, finite numbers as decimal text; others refused, naming the input', () => {
    assert.equal(toKey('k'), 'k');
    assert.equal(toKey(12.5), '12.5');
    refuses(() => toKey(''), /`key` must be a non-empty string/);
    refuses(() => toKey(NaN, 'keys[3]'), /`keys\[3\]`.*got NaN/);
    refuses(() => toKey({}), /got a dictionary/);
  });
  it('values round-trip with their type, strings included', () => {
    fc.assert(
      fc.property(
        fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown),
        (v) => void assert.deepEqual(decodeValue(encodeValue(v, 'k'), 'k'), v),
      ),
    );
    assert.equal(decodeValue(encodeValue('1', 'k'), 'k'), '1');
    assert.equal(decodeValue(encodeValue(null, 'k'), 'k'), null);
  });
  it('refuses what JSON cannot carry, naming the key', () => {
    const circular: Record<string, unknown> = {};
    circular.me = circular;
    refuses(() => encodeValue(undefined, 'ck'), /`undefined` under key "ck"/);
    refuses(() => encodeValue(() => 1, 'ck'), /a function under key "ck"/);
    refuses(() => encodeValue(circular, 'ck'), /"ck": it contains a circular reference/);
    refuses(() => encodeValue({ n: 1n }, 'ck'), /"ck": it contains a BigInt/);
  });
  it('text another program stored is E_BAD_STORED_VALUE, naming the key', () => {
    assert.throws(
      () => decodeValue('not json', 'sk'),
      (err: Error & { code?: string }) => err.code === ErrorCodes.BAD_STORED_VALUE && /"sk"/.test(err.message),
    );
  });
  it('ttl: absent, or a positive whole number of seconds', () => {
    assert.equal(toTtl(undefined), undefined);
    assert.equal(toTtl(null), undefined);
    assert.equal(toTtl(30), 30);
    for (const bad of [0, -1, 1.5, '30', Infinity]) refuses(() => toTtl(bad), /`ttl` must be a positive whole number/);
    // Past what Redis takes (its milliseconds overflow): refused naming ttl, not Redis's own error.
    assert.equal(toTtl(MAX_TTL_SECONDS), MAX_TTL_SECONDS);
    for (const big of [MAX_TTL_SECONDS + 1, 1e16, 1e20]) refuses(() => toTtl(big), /`ttl` must be at most \d+ seconds/);
  });
});

describe('Cluster and Sentinel options (no server)', () => {
  it('single by default; cluster: true or { rootNodes, ...options }; sentinel: { name, sentinelRootNodes }', () => {
    assert.deepEqual(topologyOf({}), { kind: 'single' });
    assert.deepEqual(topologyOf({ cluster: false }), { kind: 'single' });
    assert.deepEqual(topologyOf({ cluster: true }), { kind: 'cluster', options: {} });
    assert.deepEqual(topologyOf({ cluster: { rootNodes: [{ url: 'redis://a:1' }], useReplicas: true } }), {
      kind: 'cluster',
      rootNodes: [{ url: 'redis://a:1' }],
      options: { useReplicas: true },
    });
    const nodes = [{ host: 'h', port: 26379 }];
    assert.deepEqual(topologyOf({ sentinel: { name: 'm', sentinelRootNodes: nodes } }), {
      kind: 'sentinel',
      name: 'm',
      sentinelRootNodes: nodes,
      options: {},
    });
  });
  it('refuses contradictory or malformed options, naming them', () => {
    refuses(() => topologyOf({ cluster: true, sentinel: {} }), /not both/);
    refuses(() => topologyOf({ cluster: 'yes' }), /`meta.cluster` must be true or a dictionary.*"yes"/);
    refuses(() => topologyOf({ cluster: { rootNodes: [] } }), /`meta.cluster.rootNodes`/);
    refuses(() => topologyOf({ sentinel: [] }), /`meta.sentinel` must be a dictionary.*an array/);
    refuses(() => topologyOf({ sentinel: { sentinelRootNodes: [{}] } }), /`meta.sentinel.name`/);
    refuses(() => topologyOf({ sentinel: { name: 'm', sentinelRootNodes: [] } }), /sentinelRootNodes/);
  });
});
