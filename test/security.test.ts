import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { UnexpectedFailure } from '../index';
import { until } from './helpers/events';
import { freePort, RedisServer } from './helpers/redis-server';
import { makeCerts, type Certs } from './helpers/tls';

const SECRET = 'Top$ecret-p@ss/word#1';

/** Everything a user could print or log about an object, deeply. */
const exposures = (value: unknown): string => {
  let json = '';
  try {
    json = JSON.stringify(value);
  } catch (err) {
    json = String(err);
  }
  return (
    inspect(value, { depth: 6, showHidden: true, getters: true }) +
    json +
    (value instanceof Error ? (value.stack ?? '') : '')
  );
};

describe('secrets never leak', () => {
  let srv: RedisServer;
  before(async () => {
    srv = await RedisServer.start({ args: ['--requirepass', SECRET] });
  });
  after(() => srv.stop());
  const url = () => Pack.createConnectionUrl({ port: srv.port, pass: SECRET }).now();

  it('not in inspect or JSON of managers, connections, reports and errors', async () => {
    const failures: UnexpectedFailure[] = [];
    const { manager } = await Pack.promises.createManager({
      connectionString: url(),
      meta: { password: SECRET },
      onUnexpectedFailure: (e) => failures.push(e),
    });
    const report = await Pack.promises.getConnection({ manager });
    const { connection } = report;
    const legacy = (await Pack.promises.getConnection({ manager, meta: { legacyMode: true } })).connection;
    for (const thing of [manager, connection, legacy, report])
      assert.doesNotMatch(exposures(thing), /Top\$ecret|p%40ss/);
    // An unexpected failure report, with its connection and node-redis' error.
    await connection.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal']).catch(() => undefined);
    await until(() => failures.length > 0, 'a failure report');
    for (const f of failures) assert.doesNotMatch(exposures(f), /Top\$ecret|p%40ss/);
    await Pack.promises.destroyManager({ manager });
  });

  it('not in errors of bad URLs, wrong passwords, or connection failures', async () => {
    const outcomes = [
      await Pack.promises.createManager({ connectionString: `redis://user:${SECRET}@[bad` }).catch((e) => e),
      await Pack.promises
        .createManager({ connectionString: `http://user:${encodeURIComponent(SECRET)}@h` })
        .catch((e) => e),
    ];
    const wrong = (
      await Pack.promises.createManager({
        connectionString: `redis://:${encodeURIComponent(SECRET + 'x')}@127.0.0.1:${srv.port}`,
      })
    ).manager;
    outcomes.push(await Pack.promises.getConnection({ manager: wrong }).catch((e) => e));
    const down = (
      await Pack.promises.createManager({
        connectionString: `redis://:${encodeURIComponent(SECRET)}@127.0.0.1:${await freePort()}`,
      })
    ).manager;
    outcomes.push(await Pack.promises.getConnection({ manager: down }).catch((e) => e));
    for (const o of outcomes) {
      assert.ok(o instanceof Error);
      assert.doesNotMatch(exposures(o), /Top\$ecret|p%40ss|Top%24ecret/);
    }
  });

  it("not in the collections facade's errors", async () => {
    const client = Pack.createClient(`redis://:${encodeURIComponent(SECRET)}@127.0.0.1:${await freePort()}`, {
      connectTimeout: 300,
    });
    const err = await client
      .database('d')
      .collection('c')
      .set('k', { a: 1 })
      .catch((e) => e);
    assert.doesNotMatch(exposures(err) + exposures(client), /Top\$ecret|Top%24ecret/);
    await client.quit();
  });
});

describe('TLS', function () {
  this.timeout(30000);
  let certs: Certs;
  let srv: RedisServer;
  let tlsPort: number;
  before(async () => {
    certs = makeCerts();
    tlsPort = await freePort();
    srv = await RedisServer.start({
      args: [
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        certs.serverCert,
        '--tls-key-file',
        certs.serverKey,
        '--tls-ca-cert-file',
        certs.ca,
        '--tls-auth-clients',
        'optional',
      ],
    });
  });
  after(() => srv.stop());

  const tryConnect = async (connectionString: string, meta: Record<string, unknown>) => {
    const { manager } = await Pack.promises.createManager({ connectionString, meta });
    try {
      const { connection } = await Pack.promises.getConnection({ manager, timeout: 5000 });
      return await connection.ping();
    } catch (err) {
      return `${(err as { exit?: string }).exit}: ${(err as { raw?: { error: Error } }).raw?.error.message}`;
    } finally {
      await Pack.promises.destroyManager({ manager });
    }
  };

  it('rediss:// with a CA in meta.socket connects', async () => {
    assert.equal(await tryConnect(`rediss://localhost:${tlsPort}`, { socket: { ca: certs.read(certs.ca) } }), 'PONG');
  });
  it('a client certificate and key, and servername, in v3-style meta.tls', async () => {
    assert.equal(
      await tryConnect(`rediss://127.0.0.1:${tlsPort}`, {
        tls: {
          ca: certs.read(certs.ca),
          cert: certs.read(certs.clientCert),
          key: certs.read(certs.clientKey),
          servername: 'localhost',
        },
      }),
      'PONG',
    );
  });
  it('an untrusted certificate is refused with failed', async () => {
    const r = await tryConnect(`rediss://localhost:${tlsPort}`, { socket: { ca: certs.read(certs.otherCa) } });
    assert.match(String(r), /^failed: .*(self.signed|certificate|unable to verify)/i);
  });
  it('rejectUnauthorized: false accepts it (explicitly asked for)', async () => {
    assert.equal(await tryConnect(`rediss://localhost:${tlsPort}`, { socket: { rejectUnauthorized: false } }), 'PONG');
  });
  it('the key does not appear in inspect of the manager', async () => {
    const key = certs.read(certs.clientKey);
    const { manager } = await Pack.promises.createManager({
      connectionString: `rediss://localhost:${tlsPort}`,
      meta: { tls: { key } },
    });
    assert.doesNotMatch(exposures(manager), /PRIVATE KEY/);
    await Pack.promises.destroyManager({ manager });
  });
});

describe('ACL users', () => {
  let srv: RedisServer;
  before(async () => {
    srv = await RedisServer.start();
    const admin = createRedis({ url: srv.url });
    await admin.connect();
    await admin.sendCommand(['ACL', 'SETUSER', 'writer', 'on', '>writer-pw', '~app:*', '+@all']);
    await admin.sendCommand(['ACL', 'SETUSER', 'viewer', 'on', '>viewer-pw', '~*', '+@read', '+@connection']);
    admin.destroy();
  });
  after(() => srv.stop());

  it('username and password from the URL', async () => {
    const connectionString = Pack.createConnectionUrl({ port: srv.port, username: 'writer', pass: 'writer-pw' }).now();
    const { manager } = await Pack.promises.createManager({ connectionString });
    const { connection } = await Pack.promises.getConnection({ manager });
    await Pack.promises.cacheValue({ connection, key: 'app:1', value: 1 });
    const r = await Pack.promises.cacheValue({ connection, key: 'other:1', value: 1 }).catch((e: Error) => e.message);
    assert.match(String(r), /NOPERM/);
    await Pack.promises.destroyManager({ manager });
  });
  it('username and password from meta', async () => {
    const { manager } = await Pack.promises.createManager({
      connectionString: `redis://127.0.0.1:${srv.port}`,
      meta: { username: 'viewer', password: 'viewer-pw' },
    });
    const { connection } = await Pack.promises.getConnection({ manager });
    await assert.rejects(Pack.promises.getCachedValue({ connection, key: 'app:none' }), { exit: 'notFound' });
    const del = await Pack.promises
      .destroyCachedValues({ connection, keys: ['app:1'] })
      .catch((e: { exit: string; raw: { error: Error } }) => `${e.exit}: ${e.raw.error.message}`);
    assert.match(String(del), /^failed: .*NOPERM/);
    await Pack.promises.destroyManager({ manager });
  });
  it('a wrong ACL password exits failed with ERR_BAD_PASSWORD', async () => {
    const { manager } = await Pack.promises.createManager({
      connectionString: `redis://writer:nope@127.0.0.1:${srv.port}`,
    });
    await assert.rejects(
      Pack.promises.getConnection({ manager }),
      (e: { exit: string; raw: { error: { code: string } } }) =>
        e.exit === 'failed' && e.raw.error.code === 'ERR_BAD_PASSWORD',
    );
  });
});
