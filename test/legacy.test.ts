import assert from 'node:assert/strict';
import Pack from '../index';
import type { LegacyClient, Manager, UnexpectedFailure } from '../index';
import { until } from './helpers/events';
import { RedisServer, server } from './helpers/redis-server';

type Cb<T = unknown> = (err: Error | null, reply?: T) => void;
/** Call a v3-style method with a callback, as a promise. */
function v3<T = unknown>(c: LegacyClient, method: string, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) =>
    (c as unknown as Record<string, (...a: unknown[]) => void>)[method]!(...args, ((err, reply) =>
      err ? reject(err) : resolve(reply as T)) as Cb),
  );
}

/** Sails' callers, replayed from their documented patterns against a real server. */
describe('drop-in for Sails: legacy (v3-style) connections', () => {
  let url: string;
  before(async () => {
    url = (await server('plain')).url;
  });

  async function legacyConnection(
    meta: Record<string, unknown> = {},
    onUnexpectedFailure?: (e: UnexpectedFailure) => void,
    connectionString = url,
  ) {
    const manager = await new Promise<Manager>((resolve, reject) =>
      Pack.createManager({ connectionString, meta: { legacyMode: true, ...meta }, onUnexpectedFailure }).exec(
        (err, r) => (err ? reject(err) : resolve(r!.manager)),
      ),
    );
    const connection = await new Promise<LegacyClient>((resolve, reject) =>
      Pack.getConnection({ manager }).switch({
        error: reject,
        failed: (r) => reject(r.error),
        success: (r) => resolve(r.connection as unknown as LegacyClient),
      }),
    );
    return { manager, connection };
  }

  it('session hook: createConnectionUrl().now(), createManager().exec(cb), getConnection().switch(), v3 commands', async () => {
    const connectionString = Pack.createConnectionUrl({
      host: '127.0.0.1',
      port: Number(new URL(url).port),
      db: 2,
    }).now();
    const { manager, connection } = await legacyConnection(
      { identity: 'sessions', adapter: 'connect-redis' },
      undefined,
      connectionString,
    );
    assert.equal(connection.connected, true);
    assert.equal(await v3(connection, 'set', 'sess:1', '{"a":1}', 'EX', 60), 'OK');
    assert.equal(await v3(connection, 'setex', 'sess:2', 60, 'x'), 'OK');
    assert.equal(await v3(connection, 'get', 'sess:1'), '{"a":1}');
    assert.deepEqual(await v3(connection, 'mget', ['sess:1', 'sess:2', 'none']), ['{"a":1}', 'x', null]);
    assert.equal(await v3(connection, 'expire', 'sess:1', 100), 1);
    assert.ok((await v3<number>(connection, 'ttl', 'sess:1')) > 90);
    assert.equal(await v3(connection, 'del', 'sess:1', 'sess:2'), 2);
    assert.equal(await v3(connection, 'hmset', 'h', { a: 1, b: 'two' }), 'OK');
    assert.deepEqual(await v3(connection, 'hgetall', 'h'), { a: '1', b: 'two' });
    assert.equal(await v3(connection, 'hgetall', 'nothing'), null);
    assert.equal(await v3(connection, 'hset', 'h', 'c', 3), 1);
    assert.equal(await v3(connection, 'incr', 'counter'), 1);
    assert.equal(await v3(connection, 'send_command', 'OBJECT', ['ENCODING', 'counter']), 'int');
    assert.deepEqual(
      await new Promise((resolve, reject) =>
        connection
          .multi()
          .set('m', 1)
          .get('m')
          .exec((e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))),
      ),
      ['OK', '1'],
    );
    await new Promise<void>((resolve) => Pack.destroyManager({ manager }).exec(() => resolve()));
    assert.equal(connection.connected, false);
  });

  it('sockets hook: connection.name, select(db, cb), end(true)', async () => {
    const { manager, connection } = await legacyConnection();
    connection.name = 'sails-sockets';
    assert.equal(await v3(connection, 'select', 7), 'OK');
    await v3(connection, 'set', 'in-db-7', 'yes');
    const check = (
      await Pack.promises.getConnection({
        manager: (await Pack.promises.createManager({ connectionString: `${url}/7` })).manager,
      })
    ).connection;
    assert.equal(await check.get('in-db-7'), 'yes');
    connection.end(true);
    assert.equal(connection.connected, false);
    assert.equal(manager.connections.size, 0);
    await check.destroy();
  });

  it('ORM leaseConnection: explicit callbacks getConnection(argins, cb), releaseConnection(argins, cb)', async () => {
    const { manager } = await Pack.promises.createManager({ connectionString: url });
    const report = await new Promise<{ connection: unknown }>((resolve, reject) =>
      Pack.getConnection({ manager, meta: { legacyMode: true } }, (err, r) => (err ? reject(err) : resolve(r!))),
    );
    const connection = report.connection as LegacyClient;
    assert.equal(typeof connection.send_command, 'function');
    await new Promise<void>((resolve, reject) =>
      Pack.releaseConnection({ connection: report.connection as never, meta: {} }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    assert.equal(connection.connected, false);
    await Pack.promises.destroyManager({ manager });
  });

  it('every machine accepts a legacy connection', async () => {
    const { manager, connection } = await legacyConnection();
    const c = connection as never;
    await Pack.promises.cacheValue({ connection: c, key: 'lg', value: { x: [1, null] }, ttl: 30 });
    assert.deepEqual(await Pack.promises.getCachedValue({ connection: c, key: 'lg' }), { value: { x: [1, null] } });
    await Pack.promises.destroyCachedValues({ connection: c, keys: ['lg'] });
    await assert.rejects(Pack.promises.getCachedValue({ connection: c, key: 'lg' }), { exit: 'notFound' });
    await Pack.promises.releaseConnection({ connection: c });
    await assert.rejects(Pack.promises.getCachedValue({ connection: c, key: 'lg' }), { exit: 'badConnection' });
    await Pack.promises.destroyManager({ manager });
  });

  it("publish/subscribe between two legacy connections (message, pmessage, messageBuffer), as socket.io's adapter uses it", async () => {
    const { manager, connection: pub } = await legacyConnection();
    const sub = await new Promise<LegacyClient>((resolve, reject) =>
      pub.duplicate(undefined, (e, c) => (e ? reject(e) : resolve(c!))),
    );
    const got: unknown[] = [];
    sub.on('message', (ch: string, m: string) => got.push(['message', ch, m]));
    sub.on('messageBuffer', (ch: Buffer, m: Buffer) =>
      got.push(['messageBuffer', Buffer.isBuffer(ch), Buffer.isBuffer(m) && m.toString()]),
    );
    sub.on('pmessageBuffer', (p: Buffer, ch: Buffer, m: Buffer) =>
      got.push(['pmessageBuffer', p.toString(), ch.toString(), m.toString()]),
    );
    const subscribed: unknown[] = [];
    sub.on('subscribe', (ch: string, count: number) => subscribed.push([ch, count]));
    await v3(sub, 'subscribe', 'socket.io#/#');
    await v3(sub, 'psubscribe', 'socket.io#*');
    assert.deepEqual(subscribed, [['socket.io#/#', 1]]);
    assert.equal(await v3(pub, 'publish', 'socket.io#/#', Buffer.from('packet')), 2);
    await until(() => got.length === 3, 'three deliveries');
    assert.deepEqual(
      got.sort(),
      [
        ['message', 'socket.io#/#', 'packet'],
        ['messageBuffer', true, 'packet'],
        ['pmessageBuffer', 'socket.io#*', 'socket.io#/#', 'packet'],
      ].sort(),
    );
    assert.deepEqual(await v3(pub, 'send_command', 'pubsub', ['numsub', 'socket.io#/#']), ['socket.io#/#', 1]);
    await v3(sub, 'unsubscribe', 'socket.io#/#');
    assert.equal(manager.connections.size, 2, 'the duplicate belongs to the manager');
    await Pack.promises.destroyManager({ manager });
    assert.equal(sub.connected, false);
  });

  it('a password sent to a server that has none connects (with a warning), as v3 did', async () => {
    const { manager, connection } = await legacyConnection({ password: 'not-needed' });
    assert.equal(await v3(connection, 'ping'), 'PONG');
    await Pack.promises.destroyManager({ manager });
  });

  it("a crash is reported with failureType, and err.connection.once('ready') fires when the server is back", async () => {
    const srv = await RedisServer.start();
    const failures: UnexpectedFailure[] = [];
    const { manager, connection } = await legacyConnection({}, (e) => failures.push(e), srv.url);
    srv.signal('SIGKILL');
    await until(() => failures.some((f) => f.failureType === 'end'), 'the end report');
    const end = failures.find((f) => f.failureType === 'end')!;
    assert.equal(end.connection, connection);
    const back = new Promise((resolve) => (end.connection as LegacyClient).once('ready', resolve));
    await srv.restart();
    await back;
    assert.equal(await v3(connection, 'ping'), 'PONG');
    await Pack.promises.destroyManager({ manager });
    await srv.stop();
  });

  it('without legacyMode, connections stay node-redis 6 clients', async () => {
    const { manager } = await Pack.promises.createManager({ connectionString: url });
    const { connection } = await Pack.promises.getConnection({ manager });
    assert.equal(typeof connection.hGetAll, 'function');
    assert.equal((connection as unknown as { send_command?: unknown }).send_command, undefined);
    await Pack.promises.destroyManager({ manager });
  });
});
