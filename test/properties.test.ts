/**
 * Property-based tests: random inputs to every machine and to the facade. The outcome is always success or a
 * declared exit, or an error whose message says what was wrong; never a crash, a hang or a partial write.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import Pack from '../index';
import type { Connection, Manager, MemisClient } from '../index';
import { storedItem } from './helpers/stored';
import { connect } from './helpers/connect';
import { server } from './helpers/redis-server';

/** Settle within `ms` or fail the property (a hang). */
async function settle(
  p: Promise<unknown>,
  ms = 5000,
): Promise<{ ok: true; value: unknown } | { ok: false; err: Error & { exit?: string; name: string } }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error('HANG: no outcome within ' + ms + ' ms')), ms)),
  );
  try {
    return { ok: true, value: await Promise.race([p, hang]) };
  } catch (err) {
    if ((err as Error).message.startsWith('HANG')) throw err;
    return { ok: false, err: err as Error & { exit?: string; name: string } };
  } finally {
    clearTimeout(timer);
  }
}

/** A failure must be a declared exit of the machine, or an error naming what was wrong. */
function declared(
  machine: keyof typeof Pack.machines,
  r: { ok: false; err: Error & { exit?: string; name: string } },
): void {
  const exits = Object.keys(Pack.machines[machine].def.exits);
  if (r.err.name === 'Exception') assert.ok(exits.includes(r.err.exit!), `${machine}: undeclared exit ${r.err.exit}`);
  else {
    assert.ok(['UsageError', 'Error'].includes(r.err.name), `${machine}: unexpected ${r.err.name}: ${r.err.message}`);
    assert.ok(r.err.message.length > 10, `${machine}: a message that says what was wrong (${r.err.message})`);
  }
}

const anyInput = fc.oneof(
  fc.anything(),
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.integer(),
  fc.double(),
  fc.constant(undefined),
  fc.constant(null),
  fc.constant(''),
  fc.bigInt(),
  fc.func(fc.anything()),
  fc.date(),
);
const key = fc.oneof(
  fc.string({ minLength: 1 }),
  fc.string({ unit: 'binary', minLength: 1 }),
  fc.constantFrom('a:b', '{x}', '*', 'sp ace', '\u0000', 'memis:{d/c}:i:k'),
);

describe('property-based: random inputs get declared outcomes', function () {
  this.timeout(120000);
  let manager: Manager;
  let connection: Connection;
  let released: Connection;
  let client: MemisClient;
  before(async () => {
    const url = (await server('plain')).url;
    ({ manager, connection } = await connect(url));
    released = (await Pack.promises.getConnection({ manager })).connection;
    await Pack.promises.releaseConnection({ connection: released });
    client = Pack.createClient(url);
  });
  after(async () => {
    await client.quit();
    await Pack.promises.destroyManager({ manager });
  });

  const connections = () => fc.oneof(fc.constant(connection), fc.constant(connection), fc.constant(released), anyInput);

  it('cacheValue → getCachedValue: valid JSON values round-trip; everything else is refused, nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(
        key,
        fc.oneof(fc.jsonValue(), anyInput),
        fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 1000 }), anyInput),
        async (k, value, ttl) => {
          const set = await settle(Pack.promises.cacheValue({ connection, key: k, value, ttl: ttl as number }));
          const got = await settle(Pack.promises.getCachedValue({ connection, key: k }));
          if (set.ok) {
            assert.ok(got.ok, 'a stored value can be read');
            assert.deepEqual((got.value as { value: unknown }).value, JSON.parse(JSON.stringify(value)));
          } else {
            declared('cacheValue', set);
            if (!got.ok) declared('getCachedValue', got);
          }
          await connection.del(k);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every cache machine, with random connections and inputs', async () => {
    await fc.assert(
      fc.asyncProperty(
        connections(),
        fc.oneof(key, anyInput),
        fc.oneof(fc.array(fc.oneof(key, anyInput)), anyInput),
        anyInput,
        async (conn, k, keys, other) => {
          const calls: Array<[keyof typeof Pack.machines, () => Promise<unknown>]> = [
            [
              'cacheValue',
              () =>
                Pack.promises.cacheValue({
                  connection: conn as Connection,
                  key: k as string,
                  value: other,
                  ttl: other as number,
                }),
            ],
            [
              'getCachedValue',
              () => Pack.promises.getCachedValue({ connection: conn as Connection, key: k as string }),
            ],
            [
              'destroyCachedValues',
              () => Pack.promises.destroyCachedValues({ connection: conn as Connection, keys: keys as string[] }),
            ],
            [
              'authenticate',
              () => Pack.promises.authenticate({ connection: conn as Connection, password: other as string }),
            ],
            ['getConnection', () => Pack.promises.getConnection({ manager: other as Manager, timeout: 1000 })],
            ['destroyManager', () => Pack.promises.destroyManager({ manager: other as Manager })],
            ['releaseConnection', () => Pack.promises.releaseConnection({ connection: other as Connection })],
            [
              'createManager',
              () => Pack.promises.createManager({ connectionString: other as string, meta: k as never }),
            ],
            [
              'createConnectionUrl',
              () =>
                Pack.promises.createConnectionUrl({
                  host: k as string,
                  port: other as number,
                  pass: k as string,
                  db: other as number,
                }),
            ],
          ];
          for (const [name, call] of calls) {
            const r = await settle(call());
            if (!r.ok) declared(name, r);
          }
        },
      ),
      { numRuns: 150 },
    );
    // The real connection survived all of that.
    assert.equal(await connection.ping(), 'PONG');
  });

  it('the facade: random keys and data are written whole or refused with a clear error', async () => {
    const col = client.database('props').collection('c');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(key, anyInput),
        fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), anyInput),
        fc.oneof(fc.constant(undefined), fc.double({ min: 1, max: 100 }), anyInput),
        async (k, data, ttl) => {
          const r = await settle(col.set(k as string, data as Record<string, unknown>, ttl as number));
          if (r.ok) {
            const stored = await storedItem(connection, `memis:{props/c}:i:${encodeURIComponent(k as string)}`);
            assert.deepEqual(stored?.data, JSON.parse(JSON.stringify(data)));
          } else {
            assert.ok(
              r.err.message.length > 10 && !/undefined is not|Cannot read prop/.test(r.err.message),
              r.err.message,
            );
          }
          const d = await settle(col.del(k as string));
          if (!d.ok) assert.match(d.err.message, /key|empty string/i);
        },
      ),
      { numRuns: 200 },
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
