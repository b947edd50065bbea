/**
 * The ecosystem suite: real Sails 1.5 apps (session hook + @sailshq/connect-redis, sails-hook-sockets +
 * @sailshq/socket.io-redis, sails-redis through sails-hook-orm) lifted in child processes on private
 * redis-servers, with `machinepack-redis` swapped for this package through npm `overrides` and the apps'
 * configuration as it was for machinepack-redis 2.0.7 (no legacyMode anywhere).
 *
 * Every check runs twice: against this package (asserted) and against machinepack-redis 2.0.7 (its outcome is
 * compared with the column the README reports for it). The table is printed at the end and written to
 * $MPR_ECOSYSTEM_CACHE/<key>/results.md. Run with `npm run test:ecosystem` (.ci/run does, after `npm test`).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createClient } from 'redis';
import { freePort, RedisServer } from '../helpers/redis-server';
import { cacheRoot, cacheKey, ensureInstalled, verifyInstall, variantDir, type Variant } from './install';

const LIFT_DEADLINE_MS = 90_000;
/** A password with the characters that break URLs. */
const PASSWORD = 'p@ss/w#rd';
const WRONG = 'not-the-pw-4711';

// ---------------------------------------------------------------------------------------------------------------
// A lifted app

class App {
  output = '';
  exited: number | null | undefined;
  readonly #exit: Promise<number | null>;
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.#exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exited = code ?? (signal ? -1 : null);
        resolve(this.exited);
      }),
    );
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  /** Start the app; resolves once it printed LIFTED or exited (or the deadline passed: then it is killed). */
  static async start(variant: Variant, config: Record<string, unknown>): Promise<App> {
    const dir = mkdtempSync(path.join(variantDir(variant), 'app-'));
    symlinkSync(path.join(variantDir(variant), 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    copyFileSync(path.join(__dirname, 'app.js'), path.join(dir, 'app.js'));
    // Sails loads installable hooks listed in the app's package.json.
    writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify({
        name: 'eco-app',
        private: true,
        dependencies: { 'sails-hook-orm': '*', 'sails-hook-sockets': '*' },
      }),
    );
    const port = await freePort();
    const child = spawn(process.execPath, ['app.js'], {
      cwd: dir,
      env: { ...process.env, ECO_CONFIG: JSON.stringify({ ...config, port }), NODE_ENV: 'development' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const app = new App(child, port, dir);
    const deadline = Date.now() + LIFT_DEADLINE_MS;
    while (app.alive && !app.output.includes('LIFTED') && Date.now() < deadline) await sleep(100);
    if (app.alive && !app.output.includes('LIFTED')) {
      await app.stop();
      throw new Error(`the app neither lifted nor exited within ${LIFT_DEADLINE_MS} ms`);
    }
    return app;
  }

  /** Wait until the app exits (a lift that must fail), at most `ms`. */
  async exit(ms: number): Promise<number | null | 'hung'> {
    return Promise.race([this.#exit, sleep(ms).then(() => 'hung' as const)]);
  }

  async stop(): Promise<void> {
    if (this.alive) {
      this.child.kill('SIGKILL');
      await this.#exit;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Reply {
  status: number;
  body: string;
  cookie?: string;
}

/** One HTTP GET with a deadline (a request that hangs is a failure, not a stuck suite). */
function get(port: number, route: string, cookie?: string, ms = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: route, headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        const set = res.headers['set-cookie']?.[0]?.split(';')[0];
        resolve({ status: res.statusCode ?? 0, body, cookie: set ?? cookie });
      });
    });
    req.setTimeout(ms, () => req.destroy(new Error(`GET ${route} got no answer within ${ms} ms (hang)`)));
    req.on('error', reject);
  });
}

async function json<T>(port: number, route: string, cookie?: string): Promise<{ body: T; cookie?: string }> {
  const r = await get(port, route, cookie);
  if (r.status !== 200) throw new Error(`GET ${route}: ${r.status} ${r.body.slice(0, 300)}`);
  return { body: JSON.parse(r.body) as T, cookie: r.cookie };
}

/** Poll until `route` answers 200, at most `ms`. */
async function recovers(port: number, route: string, ms: number, cookie?: string): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await get(port, route, cookie, 5000);
      if (r.status === 200) return;
      last = `${r.status} ${r.body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`GET ${route} did not recover within ${ms} ms (last: ${last})`);
}

/** A sails.io.js client (with socket.io-client 2, as Sails' own tests use) on one app. */
interface SailsSocket {
  get(url: string, cb: (body: unknown, jwr: { statusCode: number }) => void): void;
  on(event: string, cb: (msg: unknown) => void): void;
  disconnect(): void;
}
type SailsIO = {
  sails: { autoConnect: boolean; environment: string; connect(url: string, opts: unknown): SailsSocket };
};
/** sails.io.js augments a socket.io client once; each `io.sails.connect(url)` then opens one socket. */
const sdks = new Map<Variant, SailsIO>();
function socketTo(variant: Variant, port: number): Promise<SailsSocket> {
  let io = sdks.get(variant);
  if (!io) {
    const modules = path.join(variantDir(variant), 'node_modules');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const SailsIO = require(path.join(modules, 'sails.io.js')) as (io: unknown) => SailsIO;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    io = SailsIO(require(path.join(modules, 'socket.io-client')));
    io.sails.autoConnect = false;
    io.sails.environment = 'production';
    sdks.set(variant, io);
  }
  const s = io.sails.connect(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the socket did not connect within 10 s')), 10_000);
    s.on('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
  });
}
function socketGet(s: SailsSocket, url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`socket GET ${url}: no answer within 10 s`)), 10_000);
    s.get(url, (body, jwr) => {
      clearTimeout(t);
      if (jwr.statusCode === 200) resolve(body);
      else reject(new Error(`socket GET ${url}: ${jwr.statusCode} ${JSON.stringify(body)}`));
    });
  });
}

async function redisCommand(url: string, args: string[]): Promise<unknown> {
  const c = createClient({ url, RESP: 2 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await c.sendCommand(args);
  } finally {
    c.destroy();
  }
}

/** A port where nothing listens (taken and released). */
async function deadPort(): Promise<number> {
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => reject(new Error(`port ${port} is in use`)));
    s.once('error', () => resolve());
  });
  return port;
}

// ---------------------------------------------------------------------------------------------------------------
// The checks

/** What an app with all three Redis users looks like, with the configuration a 2.0.7 app had. */
function fullConfig(url: string): Record<string, unknown> {
  return {
    session: { adapter: '@sailshq/connect-redis', url },
    sockets: { adapter: '@sailshq/socket.io-redis', url },
    cacheUrl: url,
  };
}

interface Context {
  variant: Variant;
  srv: RedisServer;
  app: App;
}

type Check = { id: string; title: string; run: (ctx: Context) => Promise<void> };

const CHECKS: Check[] = [
  {
    id: 'session',
    title: 'session persists across requests (connect-redis store in Redis)',
    run: async ({ app, srv }) => {
      let cookie: string | undefined;
      for (const want of [1, 2, 3]) {
        const r = await json<{ n: number }>(app.port, '/count', cookie);
        assert.equal(r.body.n, want);
        cookie = r.cookie;
      }
      const keys = (await redisCommand(srv.url, ['KEYS', 'sess:*'])) as string[];
      assert.ok(keys.length >= 1, 'the session is stored in Redis');
    },
  },
  {
    id: 'visitors',
    title: 'concurrent visitors keep separate sessions',
    run: async ({ app }) => {
      const visitor = async () => {
        let cookie: string | undefined;
        const seen: number[] = [];
        for (let i = 0; i < 4; i++) {
          const r = await json<{ n: number }>(app.port, '/count', cookie);
          seen.push(r.body.n);
          cookie = r.cookie;
        }
        return seen;
      };
      const all = await Promise.all(Array.from({ length: 12 }, visitor));
      for (const seen of all) assert.deepEqual(seen, [1, 2, 3, 4]);
    },
  },
  {
    id: 'quiet',
    title: 'no meta warnings at lift; the cookie name is not the Redis connection name',
    run: async ({ app, srv }) => {
      assert.doesNotMatch(app.output, /MPR_META_IGNORED|is ignored/);
      const list = String(await redisCommand(srv.url, ['CLIENT', 'LIST']));
      assert.doesNotMatch(list, /name=sails\.sid/);
    },
  },
  {
    id: 'lease-cb',
    title: "sails-redis leaseConnection, callback form (its README's db.get/db.set)",
    run: async ({ app }) => assert.equal((await json<{ value: string }>(app.port, '/lease-cb')).body.value, 'v-cb'),
  },
  {
    id: 'lease-async',
    title: 'sails-redis leaseConnection, async form',
    run: async ({ app }) =>
      assert.equal((await json<{ value: string }>(app.port, '/lease-async')).body.value, 'v-async'),
  },
  {
    id: 'lease-driver',
    title: 'sails-redis leaseConnection with the driver machines (cacheValue, getCachedValue)',
    run: async ({ app }) =>
      assert.equal((await json<{ value: string }>(app.port, '/lease-driver')).body.value, 'v-driver'),
  },
  {
    id: 'rooms',
    title: 'two instances share rooms, broadcasts and allSockets() (sails.io.js + socket.io-client 2)',
    run: async ({ variant, srv, app }) => {
      const other = await App.start(variant, fullConfig(srv.url));
      const sockets: SailsSocket[] = [];
      try {
        assert.ok(other.output.includes('LIFTED'), `the second instance lifted: ${other.output.slice(-500)}`);
        const a = await socketTo(variant, app.port);
        const b = await socketTo(variant, other.port);
        sockets.push(a, b);
        const heard: string[] = [];
        a.on('said', (m) => heard.push(`a:${(m as { msg: string }).msg}`));
        b.on('said', (m) => heard.push(`b:${(m as { msg: string }).msg}`));
        await socketGet(a, '/join?room=lobby');
        await socketGet(b, '/join?room=lobby');
        await socketGet(b, '/say?room=lobby&msg=from-b');
        await socketGet(a, '/say?room=lobby&msg=from-a');
        const deadline = Date.now() + 10_000;
        while (heard.length < 4 && Date.now() < deadline) await sleep(50);
        assert.deepEqual(heard.sort(), ['a:from-a', 'a:from-b', 'b:from-a', 'b:from-b']);
        // allSockets() counts the sockets of both instances
        assert.equal((await json<{ count: number }>(app.port, '/all-sockets')).body.count, 2);
        assert.equal((await json<{ count: number }>(other.port, '/all-sockets')).body.count, 2);
      } finally {
        for (const s of sockets) s.disconnect();
        await other.stop();
      }
    },
  },
  {
    id: 'client-kill',
    title: 'CLIENT KILL of every app connection: no crash, serves again',
    run: async ({ app, srv }) => {
      const { cookie } = await json(app.port, '/count');
      await redisCommand(srv.url, ['CLIENT', 'KILL', 'TYPE', 'normal']);
      await redisCommand(srv.url, ['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      await recovers(app.port, '/count', 20_000, cookie);
      await recovers(app.port, '/lease-cb', 20_000);
      assert.ok(app.alive, `the app is alive: ${app.output.slice(-800)}`);
    },
  },
  {
    id: 'sigstop',
    title: 'Redis hung (SIGSTOP) while serving: every request answered, recovers after SIGCONT',
    run: async ({ app, srv }) => {
      const { cookie } = await json(app.port, '/count');
      srv.signal('SIGSTOP');
      try {
        // A new lease waits for getConnection's own bound (its `timeout`, 15 s by default): 30 s here.
        for (const route of ['/count', '/lease-cb']) {
          const r = await get(app.port, route, cookie, 30_000);
          assert.ok(r.status > 0, `${route} answered while Redis was hung`);
        }
        assert.ok(app.alive, `the app survived: ${app.output.slice(-800)}`);
      } finally {
        srv.signal('SIGCONT');
      }
      await recovers(app.port, '/count', 30_000, cookie);
      await recovers(app.port, '/lease-cb', 30_000);
      assert.ok(app.alive, 'the app is alive after SIGCONT');
    },
  },
  {
    id: 'restart',
    title: 'Redis killed and restarted while serving: no crash, recovers',
    run: async ({ app, srv }) => {
      const { cookie } = await json(app.port, '/count');
      await srv.kill();
      // While Redis is down: every request gets an answer (an error is fine), and nothing crashes.
      for (const route of ['/count', '/lease-cb', '/ping']) {
        const r = await get(app.port, route, cookie, 15_000);
        assert.ok(r.status > 0, `${route} answered while Redis was down`);
      }
      assert.ok(app.alive, `the app survived the outage: ${app.output.slice(-800)}`);
      await srv.restart();
      await recovers(app.port, '/count', 30_000, cookie);
      await recovers(app.port, '/lease-cb', 30_000);
      assert.ok(app.alive, 'the app is alive after the restart');
    },
  },
];

/** Checks that lift their own app. */
const LIFT_CHECKS: Array<{ id: string; title: string; run: (variant: Variant) => Promise<void> }> = [
  {
    id: 'pw-url',
    title: 'a password with @ / # in a URL (session, sockets, sails-redis)',
    run: async (variant) => {
      const srv = await RedisServer.start({ args: ['--requirepass', PASSWORD] });
      const url = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${srv.port}/0`;
      const app = await App.start(variant, fullConfig(url));
      try {
        assert.ok(app.output.includes('LIFTED'), `lifted: ${app.output.slice(-500)}`);
        assert.equal((await json<{ n: number }>(app.port, '/count')).body.n, 1);
        assert.equal((await json<{ value: string }>(app.port, '/lease-cb')).body.value, 'v-cb');
      } finally {
        await app.stop();
        await srv.stop();
      }
    },
  },
  {
    id: 'pw-keys',
    title: 'a password with @ / # in host/port/pass keys (session, sockets)',
    run: async (variant) => {
      const srv = await RedisServer.start({ args: ['--requirepass', PASSWORD] });
      const keys = { host: '127.0.0.1', port: srv.port, pass: PASSWORD };
      const app = await App.start(variant, {
        session: { adapter: '@sailshq/connect-redis', ...keys },
        sockets: { adapter: '@sailshq/socket.io-redis', ...keys },
      });
      try {
        assert.ok(app.output.includes('LIFTED'), `lifted: ${app.output.slice(-500)}`);
        assert.equal((await json<{ n: number }>(app.port, '/count')).body.n, 1);
      } finally {
        await app.stop();
        await srv.stop();
      }
    },
  },
  {
    id: 'lower-exits',
    title: 'an app using only the session hook exits by itself after sails.lower()',
    run: async (variant) => {
      const srv = await RedisServer.start();
      const app = await App.start(variant, { session: { adapter: '@sailshq/connect-redis', url: srv.url } });
      try {
        assert.ok(app.output.includes('LIFTED'), `lifted: ${app.output.slice(-500)}`);
        const { cookie } = await json<{ n: number }>(app.port, '/count');
        assert.equal((await json<{ n: number }>(app.port, '/count', cookie)).body.n, 2);
        await json(app.port, '/lower');
        // Sails waits up to 1 s for open HTTP connections after closing its server; the session store's
        // connection (which Sails never closes) must not hold the process after that.
        const code = await app.exit(15_000);
        assert.match(app.output, /LOWERED/);
        assert.notEqual(code, 'hung', 'the process exited by itself after sails.lower()');
        assert.equal(code, 0, app.output.slice(-500));
      } finally {
        await app.stop();
        await srv.stop();
      }
    },
  },
  {
    id: 'lift-down',
    title: 'lift with Redis down fails cleanly (exits with an error, no hang)',
    run: async (variant) => {
      const url = `redis://127.0.0.1:${await deadPort()}`;
      const app = await App.start(variant, fullConfig(url));
      try {
        const code = await app.exit(60_000);
        assert.notEqual(code, 'hung', 'the lift ended');
        assert.equal(code, 1, `exit code (1 = lift failed cleanly): ${app.output.slice(-500)}`);
        assert.match(app.output, /LIFT FAILED/);
      } finally {
        await app.stop();
      }
    },
  },
  {
    id: 'lift-wrong-pw',
    title: 'lift with a wrong password fails cleanly, without printing it',
    run: async (variant) => {
      const srv = await RedisServer.start({ args: ['--requirepass', PASSWORD] });
      const app = await App.start(variant, fullConfig(`redis://:${WRONG}@127.0.0.1:${srv.port}`));
      try {
        const code = await app.exit(60_000);
        assert.notEqual(code, 'hung', 'the lift ended');
        assert.equal(code, 1, `exit code (1 = lift failed cleanly): ${app.output.slice(-500)}`);
        assert.doesNotMatch(app.output, new RegExp(WRONG), 'the password is not printed');
      } finally {
        await app.stop();
        await srv.stop();
      }
    },
  },
];

/**
 * What machinepack-redis 2.0.7 does on each check (the README's column). The suite asserts that these stay
 * true, so the table cannot drift from what the real packages do.
 */
const ORIGINAL_EXPECTED: Record<string, boolean> = {
  session: true,
  visitors: true,
  quiet: true,
  'lease-cb': true,
  'lease-async': true,
  'lease-driver': true,
  rooms: true,
  'client-kill': true,
  sigstop: false, // requests wait for the hung server: no bound on a reply
  restart: false, // requests hang while Redis is down (v3's offline queue has no bound)
  'pw-url': true,
  'pw-keys': false, // createConnectionUrl does not encode the password: the lift crashes
  'lower-exits': false, // the session store's node-redis v3 client, never closed by Sails, keeps the process alive
  'lift-down': true,
  'lift-wrong-pw': true,
};

// ---------------------------------------------------------------------------------------------------------------

const results: Record<string, { title: string; ours?: string; original?: string }> = {};
const timings: string[] = [];

function record(id: string, title: string, variant: Variant, err: unknown): void {
  const cell =
    err === undefined
      ? 'pass'
      : `FAIL: ${String((err as Error).message ?? err)
          .split('\n')[0]!
          .slice(0, 140)}`;
  (results[id] ??= { title })[variant] = cell;
}

describe('ecosystem: real Sails apps, machinepack-redis swapped in through npm overrides', function () {
  this.timeout(240_000);

  for (const variant of ['ours', 'original'] as const) {
    const label = variant === 'ours' ? 'machinepack-redis-ts (asserted)' : `machinepack-redis 2.0.7 (README column)`;
    describe(label, () => {
      const ctx = { variant } as Context;
      const settle = async (id: string, title: string, fn: () => Promise<void>) => {
        let failure: unknown;
        try {
          await fn();
        } catch (err) {
          failure = err;
        }
        record(id, title, variant, failure);
        if (variant === 'ours') {
          if (failure) throw failure;
        } else {
          assert.equal(
            failure === undefined,
            ORIGINAL_EXPECTED[id],
            `2.0.7 on "${id}": expected ${ORIGINAL_EXPECTED[id] ? 'pass' : 'fail'}, got ${failure ? String(failure) : 'pass'}`,
          );
        }
      };

      before(async function () {
        this.timeout(900_000);
        const report = await ensureInstalled(variant);
        timings.push(
          `${variant}: ${report.cold ? 'cold install' : 'cached tree'} ${(report.installMs / 1000).toFixed(1)} s`,
        );
      });

      it('the substitution holds: npm ls and require.resolve from sails, sails-hook-sockets, sails-redis', async () => {
        const resolved = await verifyInstall(variant);
        assert.deepEqual(Object.keys(resolved), ['sails', 'sails-hook-sockets', 'sails-redis']);
      });

      describe('one app with session, sockets and sails-redis on one Redis', () => {
        before(async function () {
          this.timeout(120_000);
          ctx.srv = await RedisServer.start();
          ctx.app = await App.start(variant, fullConfig(ctx.srv.url));
        });
        after(async () => {
          await ctx.app?.stop();
          await ctx.srv?.stop();
        });
        for (const check of CHECKS) {
          it(check.title, async function () {
            this.timeout(120_000);
            await settle(check.id, check.title, async () => {
              if (!ctx.app.output.includes('LIFTED') || !ctx.app.alive)
                throw new Error(`the app is not running: ${ctx.app.output.slice(-300)}`);
              await check.run(ctx);
            });
          });
        }
      });

      for (const check of LIFT_CHECKS) {
        it(check.title, async function () {
          this.timeout(180_000);
          await settle(check.id, check.title, () => check.run(variant));
        });
      }
    });
  }

  after(() => {
    const lines = [
      '| check | machinepack-redis-ts | machinepack-redis 2.0.7 |',
      '|---|---|---|',
      ...Object.values(results).map((r) => `| ${r.title} | ${r.ours ?? 'not run'} | ${r.original ?? 'not run'} |`),
    ];
    const text = `${lines.join('\n')}\n\n${timings.join('\n')}\n`;
    console.log(`\n${text}`);
    try {
      const dir = path.join(cacheRoot(), cacheKey());
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'results.md'), text);
    } catch {
      // the table is printed above anyway
    }
  });
});
