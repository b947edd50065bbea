/**
 * createClient's argument forms (every one node-redis v3 accepted): where the data lands, checked on private
 * servers (a plain one, a password-protected one with an ACL user, one listening on a unix socket, a TLS one),
 * and the forms it cannot honour, which throw at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { ClientOptions, MemisClient } from '../index';
import { resolveClientArgs } from '../lib/client-args';
import { freePort, RedisServer } from './helpers/redis-server';
import { makeCerts } from './helpers/tls';

const SECRET = 'cc-s3cret/pw';

describe('createClient: every node-redis v3 argument form', () => {
  let plain: RedisServer;
  let locked: RedisServer;
  let socketServer: RedisServer;
  let socketPath: string;
  let tlsServer: RedisServer;
  let tlsPort: number;
  let ca: string;
  before(async () => {
    socketPath = path.join(mkdtempSync(path.join(tmpdir(), 'mpr-sock-')), 'redis.sock');
    const certs = makeCerts();
    ca = readFileSync(certs.ca, 'utf8');
    tlsPort = await freePort();
    [plain, locked, socketServer, tlsServer] = await Promise.all([
      RedisServer.start(),
      RedisServer.start({ args: ['--requirepass', SECRET, '--user', 'app', 'on', '>app-pw', '~*', '&*', '+@all'] }),
      RedisServer.start({ args: ['--unixsocket', socketPath, '--unixsocketperm', '700'] }),
      RedisServer.start({
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
          'no',
        ],
      }),
    ]);
  });
  after(() => Promise.all([plain, locked, socketServer, tlsServer].map((s) => s?.stop())));

  /** Whether the item written by `form` is in database `db` of `server`. */
  async function landed(server: RedisServer, db: number, form: string, password?: string): Promise<boolean> {
    const raw = createRedis({ socket: { port: server.port, host: '127.0.0.1' }, database: db, password });
    raw.on('error', () => undefined);
    await raw.connect();
    try {
      return (await raw.exists(`memis:{forms/c}:i:${encodeURIComponent(form)}`)) === 1;
    } finally {
      raw.destroy();
    }
  }

  const table: Array<{
    form: string;
    make: () => MemisClient;
    server: () => RedisServer;
    db: number;
    password?: string;
  }> = [
    {
      form: '{ host, port }',
      make: () => Pack.createClient({ host: '127.0.0.1', port: plain.port }),
      server: () => plain,
      db: 0,
    },
    { form: '{ port }', make: () => Pack.createClient({ port: plain.port }), server: () => plain, db: 0 },
    {
      form: '{ port: numeric string }',
      make: () => Pack.createClient({ port: String(plain.port) }),
      server: () => plain,
      db: 0,
    },
    {
      form: '{ host, port, db }',
      make: () => Pack.createClient({ host: 'localhost', port: plain.port, db: 2 }),
      server: () => plain,
      db: 2,
    },
    {
      form: '{ port, db: "5" }',
      make: () => Pack.createClient({ port: plain.port, db: '5' }),
      server: () => plain,
      db: 5,
    },
    {
      form: '{ port, password }',
      make: () => Pack.createClient({ port: locked.port, password: SECRET }),
      server: () => locked,
      db: 0,
      password: SECRET,
    },
    {
      form: '{ port, auth_pass, db }',
      make: () => Pack.createClient({ port: locked.port, auth_pass: SECRET, db: 1 }),
      server: () => locked,
      db: 1,
      password: SECRET,
    },
    {
      form: '{ port, user, password }',
      make: () => Pack.createClient({ port: locked.port, user: 'app', password: 'app-pw' }),
      server: () => locked,
      db: 0,
      password: SECRET,
    },
    { form: '{ path }', make: () => Pack.createClient({ path: socketPath }), server: () => socketServer, db: 0 },
    {
      form: '{ path, db }',
      make: () => Pack.createClient({ path: socketPath, db: 4 }),
      server: () => socketServer,
      db: 4,
    },
    { form: '(socketPath)', make: () => Pack.createClient(socketPath), server: () => socketServer, db: 0 },
    {
      form: '(socketPath, { db })',
      make: () => Pack.createClient(socketPath, { db: 6 }),
      server: () => socketServer,
      db: 6,
    },
    {
      form: 'unix:///path?db=7',
      make: () => Pack.createClient(`unix://${socketPath}?db=7`),
      server: () => socketServer,
      db: 7,
    },
    { form: '{ url }', make: () => Pack.createClient({ url: plain.url }), server: () => plain, db: 0 },
    { form: '(url)', make: () => Pack.createClient(plain.url), server: () => plain, db: 0 },
    { form: 'url /3', make: () => Pack.createClient(`${plain.url}/3`), server: () => plain, db: 3 },
    { form: 'url ?db=3', make: () => Pack.createClient(`${plain.url}?db=3`), server: () => plain, db: 3 },
    { form: '{ url: ?db=8 }', make: () => Pack.createClient({ url: `${plain.url}?db=8` }), server: () => plain, db: 8 },
    {
      form: 'url with password',
      make: () => Pack.createClient(`redis://:${encodeURIComponent(SECRET)}@127.0.0.1:${locked.port}/2`),
      server: () => locked,
      db: 2,
      password: SECRET,
    },
    {
      form: 'url ?password=',
      make: () => Pack.createClient(`redis://127.0.0.1:${locked.port}?password=${encodeURIComponent(SECRET)}&db=3`),
      server: () => locked,
      db: 3,
      password: SECRET,
    },
    {
      form: '//host:port (no scheme)',
      make: () => Pack.createClient(`//127.0.0.1:${plain.port}`),
      server: () => plain,
      db: 0,
    },
    {
      form: 'url wins over options',
      make: () => Pack.createClient(`${plain.url}/9`, { port: 1, db: 1 }),
      server: () => plain,
      db: 9,
    },
    { form: '(port)', make: () => Pack.createClient(plain.port), server: () => plain, db: 0 },
    { form: '("port")', make: () => Pack.createClient(`${plain.port}` as `${number}`), server: () => plain, db: 0 },
    { form: '(port, host)', make: () => Pack.createClient(plain.port, 'localhost'), server: () => plain, db: 0 },
    {
      form: '(port, host, { db })',
      make: () => Pack.createClient(plain.port, '127.0.0.1', { db: 10 }),
      server: () => plain,
      db: 10,
    },
    { form: '(port, { db })', make: () => Pack.createClient(plain.port, { db: 11 }), server: () => plain, db: 11 },
    {
      form: '(port, { host, db })',
      make: () => Pack.createClient(plain.port, { host: 'localhost', db: 12 }),
      server: () => plain,
      db: 12,
    },
    {
      form: '(port, host, { password })',
      make: () => Pack.createClient(locked.port, '127.0.0.1', { password: SECRET }),
      server: () => locked,
      db: 0,
      password: SECRET,
    },
    {
      form: 'node-redis 6 { socket, database }',
      make: () => Pack.createClient({ socket: { host: '127.0.0.1', port: plain.port }, database: 13 }),
      server: () => plain,
      db: 13,
    },
    {
      form: 'node-redis 6 { socket: { path } }',
      make: () => Pack.createClient({ socket: { path: socketPath } } as ClientOptions),
      server: () => socketServer,
      db: 0,
    },
    {
      form: '{ host, port, tls: { ca } }',
      make: () => Pack.createClient({ host: 'localhost', port: tlsPort, tls: { ca } }),
      server: () => tlsServer,
      db: 0,
    },
    {
      form: 'rediss:// + { tls: { ca }, db }',
      make: () => Pack.createClient(`rediss://localhost:${tlsPort}`, { tls: { ca }, db: 1 }),
      server: () => tlsServer,
      db: 1,
    },
  ];

  for (const row of table) {
    it(`${row.form} → the data lands on that server and database`, async () => {
      const client = row.make();
      const errors: Error[] = [];
      client.on('error', (e) => errors.push(e));
      try {
        await client.database('forms').collection('c').set(row.form, { form: row.form });
      } finally {
        await client.quit();
      }
      assert.deepEqual(errors, []);
      assert.equal(await landed(row.server(), row.db, row.form, row.password), true);
      // and nowhere else on the plain server
      if (row.server() !== plain || row.db !== 0) assert.equal(await landed(plain, 0, row.form), false);
    });
  }

  const refused: Array<[string, () => unknown, RegExp]> = [
    ['a port that is not a number', () => Pack.createClient({ port: 'abc' }), /port must be a whole number/],
    ['port 0', () => Pack.createClient({ port: 0 }), /port must be a whole number/],
    ['a port out of range', () => Pack.createClient(70000), /port must be a whole number/],
    [
      'a misspelt option',
      () => Pack.createClient({ hots: 'x' } as ClientOptions),
      /unknown option "hots"; did you mean "host"\?/,
    ],
    ['an unknown option', () => Pack.createClient({ colour: 'x' } as ClientOptions), /unknown option "colour"/],
    ['a db that is not a number', () => Pack.createClient({ db: 'two' }), /db must be a database number/],
    [
      'a URL database that is not a number',
      () => Pack.createClient('redis://h/abc'),
      /database in .* must be a database number/,
    ],
    [
      '?db= differing from db beside it',
      () => Pack.createClient('redis://h?db=3', { db: 4 }),
      /"db" is given twice with different values/,
    ],
    [
      'db and database differing',
      () => Pack.createClient({ db: 1, database: 2 }),
      /db and database are both given and differ/,
    ],
    [
      'host and socket.host differing',
      () => Pack.createClient({ host: 'a', socket: { host: 'b' } }),
      /both given and differ/,
    ],
    [
      'a socket path and a host',
      () => Pack.createClient({ path: '/tmp/x.sock', host: 'h' }),
      /both a unix socket path and a host/,
    ],
    [
      'tls over a unix socket',
      () => Pack.createClient({ path: '/tmp/x.sock', tls: true }),
      /tls cannot be used with a unix socket/,
    ],
    ['another scheme', () => Pack.createClient('http://h:1'), /scheme "http:"/],
    [
      'a string that is neither URL nor path',
      () => Pack.createClient('localhost:6379'),
      /neither a redis URL nor a socket path/,
    ],
    ['a function', () => Pack.createClient((() => 1) as unknown as ClientOptions), /cannot use a function/],
    ['options after options', () => (Pack.createClient as (...a: unknown[]) => unknown)({}, {}), /pass nothing else/],
    [
      '(port, options, options)',
      () => (Pack.createClient as (...a: unknown[]) => unknown)(1, {}, {}),
      /\(port, host, options\) or \(port, options\)/,
    ],
    ['a bad family', () => Pack.createClient({ family: 'IPv5' as 'IPv4' }), /family must be/],
    [
      'a translated v3 option of the wrong type',
      () => Pack.createClient({ connect_timeout: 'soon' as unknown as number }),
      /connect_timeout must be/,
    ],
    [
      'a non-positive syncInterval',
      () => Pack.createClient({ syncInterval: 0 }),
      /syncInterval must be a positive number/,
    ],
    // The copy's periodic check refuses less than 10 ms: so does createClient, rather than a subscribe() that
    // retries a refusal forever.
    ['a syncInterval of 0.5 ms', () => Pack.createClient({ syncInterval: 0.5 }), /syncInterval must be 10 ms or more/],
    ['a syncInterval of 9.99 ms', () => Pack.createClient({ syncInterval: 9.99 }), /syncInterval must be 10 ms/],
  ];
  for (const [what, call, message] of refused) {
    it(`refuses ${what} at once, with a TypeError naming it`, () => {
      assert.throws(call, (err: Error & { code?: string }) => {
        assert.ok(err instanceof TypeError);
        assert.equal(err.code, 'E_INVALID_INPUT');
        assert.match(err.message, message);
        return true;
      });
    });
  }

  it('never quotes a password in its errors', () => {
    for (const call of [
      () => Pack.createClient(`redis://:${SECRET}@h/x`),
      () => Pack.createClient(`redis://h?password=${SECRET}`, { password: 'other-secret' }),
    ]) {
      assert.throws(call, (err: Error) => !err.message.includes(SECRET) && !err.message.includes('other-secret'));
    }
  });

  it('resolves the defaults v3 used: 127.0.0.1:6379, database 0, no credentials', () => {
    for (const args of [[], [{}], [undefined]]) {
      const r = resolveClientArgs(args);
      assert.equal(r.connectionString, 'redis://127.0.0.1:6379');
      assert.deepEqual(r.meta, {});
    }
    const withPassword = resolveClientArgs([{ password: 'x-pw-1' }]);
    assert.equal(withPassword.connectionString, 'redis://127.0.0.1:6379');
    assert.equal(withPassword.meta.password, 'x-pw-1');
    assert.equal(resolveClientArgs(['redis://[::1]:7000/2']).connectionString, 'redis://[::1]:7000');
    assert.equal(resolveClientArgs([{ family: 'IPv6', host: '::1' }]).meta.socket && true, true);
  });
});
