import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Pack from '../index';
import { detectLoadedAsOriginal, loadedAsOriginal, wantsLegacy } from '../lib/legacy';
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

  it('array arguments and v3 callbacks, as connect-redis, socket.io-redis and sails-redis call them', async () => {
    const { manager, connection } = await legacyConnection();
    // connect-redis 6.1.3: set([key, json, 'EX', ttl], cb), scan([cursor, 'match', p, 'count', n], cb), del(keys, cb)
    assert.equal(await v3(connection, 'set', ['sess:x', '{"cookie":{}}', 'EX', 60]), 'OK');
    assert.ok((await v3<number>(connection, 'ttl', 'sess:x')) > 50);
    const [cursor, keys] = await v3<[string, string[]]>(connection, 'scan', ['0', 'match', 'sess:*', 'count', 100]);
    assert.equal(cursor, '0');
    assert.deepEqual(keys, ['sess:x']);
    assert.deepEqual(await v3(connection, 'mget', ['sess:x', 'sess:none']), ['{"cookie":{}}', null]);
    assert.equal(await v3(connection, 'del', ['sess:x']), 1);
    // sails-redis README: db.set(key, val, cb), db.get(key, cb)
    assert.equal(await v3(connection, 'set', 'k', 'v'), 'OK');
    assert.equal(await v3(connection, 'get', 'k'), 'v');
    // a command Redis refuses calls back with the error (v3: wrong number of arguments for an empty del)
    await assert.rejects(v3(connection, 'del', []), /wrong number of arguments/i);
    await Pack.promises.destroyManager({ manager });
  });

  it('punsubscribe stops pmessage deliveries; a throwing message listener does not stop the others', async () => {
    const { manager, connection: pub } = await legacyConnection();
    const sub = await new Promise<LegacyClient>((resolve, reject) =>
      pub.duplicate(undefined, (e, c) => (e ? reject(e) : resolve(c!))),
    );
    const got: string[] = [];
    const errors: Error[] = [];
    sub.on('error', (e: Error) => errors.push(e));
    sub.once('pmessage', () => {
      throw new Error('listener bug');
    });
    sub.on('pmessageBuffer', (_p: Buffer, _ch: Buffer, m: Buffer) => got.push(m.toString()));
    await v3(sub, 'psubscribe', 'room#*');
    await v3(pub, 'publish', 'room#1', 'a');
    await v3(pub, 'publish', 'room#1', 'b');
    await until(() => got.length === 2, 'both messages');
    assert.deepEqual(got, ['a', 'b']);
    assert.equal(errors.length, 1);
    await v3(sub, 'punsubscribe', 'room#*');
    assert.equal(await v3(pub, 'publish', 'room#1', 'c'), 0, 'nobody listens any more');
    await Pack.promises.destroyManager({ manager });
  });

  it('every callback is called: commands queued while Redis is down fail after commandTimeout, then work again', async () => {
    const srv = await RedisServer.start();
    const { manager, connection } = await legacyConnection({ commandTimeout: 300 }, () => undefined, srv.url);
    assert.equal(await v3(connection, 'set', 'k', '1'), 'OK');
    await srv.kill();
    const outcomes = await Promise.allSettled([v3(connection, 'get', 'k'), v3(connection, 'select', 0)]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['rejected', 'rejected'],
    );
    await srv.restart();
    await until(() => connection.connected, 'the reconnect');
    assert.equal(await v3(connection, 'set', 'k', '2'), 'OK');
    await Pack.promises.destroyManager({ manager });
    await srv.stop();
  });
});

describe('which connections are v3-style by default (no legacyMode)', () => {
  it('meta.legacyMode (the call first, then the manager) forces either; else only the runner face of the original', () => {
    const runner = { face: 'runner' } as const;
    const promises = { face: 'promises' } as const;
    assert.equal(wantsLegacy({ legacyMode: true }, undefined, promises), true);
    assert.equal(wantsLegacy({ legacyMode: false }, { legacyMode: true }, runner), false);
    assert.equal(wantsLegacy(undefined, { legacyMode: true }, promises), true);
    assert.equal(wantsLegacy({}, { legacyMode: false }, runner), false);
    // Loaded here under its own name: nothing changes for users of machinepack-redis-ts.
    assert.equal(loadedAsOriginal(), false);
    assert.equal(wantsLegacy(undefined, {}, runner), false);
    assert.equal(wantsLegacy(undefined, {}, promises), false);
  });

  it('detects the name it was loaded under: the install folder, or a requirer resolving machinepack-redis to it', () => {
    const none = () => undefined;
    assert.equal(detectLoadedAsOriginal('/app/node_modules/machinepack-redis', [], none), true);
    assert.equal(detectLoadedAsOriginal('/app/node_modules/machinepack-redis-ts', [], none), false);
    assert.equal(detectLoadedAsOriginal('/src/machinepack-redis', [], none), false, 'a checkout of that name');
    const pkg = '/store/machinepack-redis-ts@0.1.0/node_modules/machinepack-redis-ts';
    const entry = { filename: `${pkg}/dist/index.js` };
    const sails = { filename: '/app/node_modules/sails/lib/hooks/session/index.js', children: [entry] };
    const other = { filename: '/app/lib/other.js', children: [{ filename: '/app/node_modules/x/index.js' }] };
    const resolvesTo = (dir: string) => (from: string) =>
      from.startsWith('/app/node_modules/sails') ? dir : undefined;
    assert.equal(detectLoadedAsOriginal(pkg, [other, entry, sails], resolvesTo(pkg)), true, 'symlinked (pnpm)');
    assert.equal(detectLoadedAsOriginal(pkg, [other, entry, sails], resolvesTo('/elsewhere')), false);
    assert.equal(detectLoadedAsOriginal(pkg, [other], resolvesTo(pkg)), false, 'only requirers of this package count');
  });

  it('required as machinepack-redis (a symlinked install, in a child process), the runner face gives v3 clients', async function () {
    this.timeout(60000);
    const { url } = await server('plain');
    const app = mkdtempSync(path.join(tmpdir(), 'mpr-as-original-'));
    try {
      mkdirSync(path.join(app, 'node_modules'));
      symlinkSync(path.resolve(__dirname, '..'), path.join(app, 'node_modules', 'machinepack-redis'), 'dir');
      const script = path.join(app, 'app.js');
      symlinkSync(path.join(__dirname, 'fixtures', 'as-original.js'), script);
      const root = path.resolve(__dirname, '..');
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ['--preserve-symlinks-main', '-r', path.join(root, 'node_modules/ts-node/register/transpile-only'), script],
          {
            cwd: app,
            env: { ...process.env, REDIS_URL: url, TS_NODE_PROJECT: path.join(root, 'tsconfig.json') },
            timeout: 50000,
          },
          (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
        ),
      );
      const out = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      assert.deepEqual(out, {
        sessionIsLegacy: true,
        set: 'OK',
        get: '{"n":1}',
        expire: 1,
        scan: ['0', ['sess:a']],
        mget: ['{"n":1}', null],
        del: 1,
        clientName: null, // the session cookie's `name` is not the connection's
        numsub: ['socket.io-request#/#', 1],
        messages: [
          ['m', 'socket.io-request#/#', 'req'],
          ['p', 'socket.io#/#*', 'socket.io#/#room#', 'to-room'],
        ],
        leaseSet: 'OK',
        leaseGet: 'v',
        forcedModern: true,
        promisesModern: true,
        promisesGet: 'v',
      });
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});

describe('legacy connections behave as v3 did where callers look closely', () => {
  let url: string;
  before(async () => {
    url = (await server('plain')).url;
  });

  async function legacy(): Promise<{ manager: Manager; db: LegacyClient }> {
    const { manager } = await Pack.promises.createManager({ connectionString: url, meta: { legacyMode: true } });
    const { connection } = await Pack.promises.getConnection({ manager, meta: { legacyMode: true } });
    return { manager, db: connection as unknown as LegacyClient };
  }
  const call = <T>(fn: (cb: (err: Error | null, r?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => fn((err, r) => (err ? reject(err) : resolve(r as T))));

  it('client(...) is the CLIENT command, not a field', async () => {
    const { manager, db } = await legacy();
    assert.equal(typeof db.client, 'function');
    assert.equal(await call((cb) => db.client('setname', 'v3name', cb)), 'OK');
    assert.equal(await call((cb) => db.client('getname', cb)), 'v3name');
    await Pack.promises.destroyManager({ manager });
  });

  it('a failing command inside multi()/batch() keeps the other replies, with the error in its place', async () => {
    const { manager, db } = await legacy();
    await call((cb) => db.set('v3:str', 'abc', cb));
    for (const kind of ['multi', 'batch'] as const) {
      const replies = await call<unknown[]>((cb) => db[kind]().incr('v3:str').set('v3:after', kind).exec(cb));
      assert.equal(replies.length, 2);
      assert.ok(replies[0] instanceof Error, `${kind}: the failed command's reply is its error`);
      assert.equal((replies[0] as Error & { code?: string }).code, 'ERR');
      assert.equal(replies[1], 'OK');
      assert.equal(await call((cb) => db.get('v3:after', cb)), kind);
    }
    await Pack.promises.destroyManager({ manager });
  });

  it('reply errors carry code, command and args', async () => {
    const { manager, db } = await legacy();
    await call((cb) => db.set('v3:wt', 'x', cb));
    const err = await call((cb) => db.lpush('v3:wt', 'a', cb)).then(
      () => assert.fail('lpush on a string must fail'),
      (e: Error & { code?: string; command?: string; args?: unknown[] }) => e,
    );
    assert.equal(err.code, 'WRONGTYPE');
    assert.equal(err.command, 'LPUSH');
    assert.deepEqual(err.args, ['v3:wt', 'a']);
    await Pack.promises.destroyManager({ manager });
  });

  it("a command's own callback inside multi() is called with its reply", async () => {
    const { manager, db } = await legacy();
    await call((cb) => db.set('v3:own', 'x', cb));
    const own: unknown[] = [];
    await call((cb) =>
      db
        .multi()
        .get('v3:own', (e: Error | null, v: unknown) => own.push(e ?? v))
        .lpush('v3:own', 'a', (e: Error | null, v: unknown) => own.push(e ?? v))
        .exec(cb),
    );
    assert.equal(own[0], 'x');
    assert.ok(own[1] instanceof Error && (own[1] as Error & { code?: string }).code === 'WRONGTYPE');
    await Pack.promises.destroyManager({ manager });
  });
});
