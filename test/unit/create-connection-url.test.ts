import assert from 'node:assert/strict';
import Pack from '../../index';
import { faces, outcome } from '../helpers/faces';

describe('createConnectionUrl', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{}, 'redis://127.0.0.1:6379'],
    [{ host: 'cache.internal', port: 6380, db: 2 }, 'redis://cache.internal:6380/2'],
    [{ pass: 'p@ss/w#rd:x' }, 'redis://:p%40ss%2Fw%23rd%3Ax@127.0.0.1:6379'],
    [{ username: 'app', pass: 'pw' }, 'redis://app:pw@127.0.0.1:6379'],
    [{ tls: true, db: 0 }, 'rediss://127.0.0.1:6379/0'],
    [{ host: '::1' }, 'redis://[::1]:6379'],
    [{ port: '6390' }, 'redis://127.0.0.1:6390'],
  ];
  for (const [argins, expected] of cases) {
    it(`builds ${expected} with .now(), .execSync() and both faces`, async () => {
      assert.equal(Pack.createConnectionUrl(argins).now(), expected);
      assert.equal(Pack.createConnectionUrl(argins).execSync(), expected);
      for (const face of faces) assert.equal(await face.call('createConnectionUrl', argins), expected);
    });
  }
  it('round-trips the encoded password through URL parsing', () => {
    const url = new URL(Pack.createConnectionUrl({ username: 'a b', pass: 'p@ss/w#rd:x' }).now());
    assert.equal(decodeURIComponent(url.password), 'p@ss/w#rd:x');
    assert.equal(decodeURIComponent(url.username), 'a b');
  });
  for (const argins of [{ port: 0 }, { port: 'abc' }, { host: 'a/b' }, { db: -1 }, { db: 'x' }]) {
    it(`gives an error for ${JSON.stringify(argins)}`, async () => {
      assert.throws(() => Pack.createConnectionUrl(argins as never).now(), /must be/);
      for (const face of faces) assert.equal((await outcome(face.call('createConnectionUrl', argins))).exit, 'error');
    });
  }
  // Objects that cannot be turned into a number or string (found by the property test): a usage error naming the
  // input, not "Cannot convert object to primitive value".
  const hostile = [Object.create(null) as object, { toString: null }, [Object.create(null) as object]];
  for (const name of ['port', 'db', 'username']) {
    it(`gives a usage error naming \`${name}\` for objects that have no primitive value`, async () => {
      for (const value of hostile) {
        assert.throws(
          () => Pack.createConnectionUrl({ [name]: value } as never).now(),
          new RegExp(`\`${name}\` must be`),
        );
        for (const face of faces)
          assert.equal((await outcome(face.call('createConnectionUrl', { [name]: value }))).exit, 'error');
      }
    });
  }
});
