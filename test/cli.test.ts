import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createClient as createRedis } from 'redis';
import Pack from '../index';
import type { MemisClient } from '../index';
import { parseArgs } from '../cli/args';
import { oneLine } from '../cli/discovery';
import { runCli, RunningCli, type CliResult } from './helpers/cli';
import { until } from './helpers/events';
import { freePort, PASSWORD, RedisServer, server } from './helpers/redis-server';

/** One line on stderr, nothing on stdout. */
function assertOneLineFailure(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, pattern);
}

/** The password, raw or URL-encoded, appears nowhere in the output. */
function assertNoPassword(r: { stdout: string; stderr: string }): void {
  for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), 's3cret'])
    assert.ok(!(r.stdout + r.stderr).includes(secret), `the password was printed: ${r.stdout}${r.stderr}`);
}

describe('command line: machinepack-redis-ts', function () {
  this.timeout(120000);
  let srv: RedisServer;
  let client: MemisClient;
  let artistsRevision = 0;
  let flagsRevision = 0;
  let globRevision = 0;
  const running: RunningCli[] = [];
  const start = (args: string[], env?: NodeJS.ProcessEnv): RunningCli => {
    const cli = new RunningCli(args, env);
    running.push(cli);
    return cli;
  };

  before(async () => {
    srv = await RedisServer.start();
    client = Pack.createClient(srv.url);
    const artists = client.database('region-nl').collection('artists');
    await artists.set('coldplay', { genre: 'Alternative', rank: 1 });
    await artists.set('queen', { genre: 'Rock', rank: 2 });
    artistsRevision = await artists.set('odd key/ü', { genre: 'Odd' });
    flagsRevision = await client.database('region-nl').collection('flags').set('beta', { on: true });
    globRevision = await client.database('region-nl*').collection('glob').set('x', { n: 1 });
    await client.database('region-nlx').collection('other').set('y', { n: 2 });
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((cli) => cli.stop('SIGKILL')));
  });
  after(async () => {
    await client.quit();
    await srv.stop();
  });

  describe('list', () => {
    it('lists the databases, then the collections of one with item count and revision, without KEYS', async () => {
      const raw = createRedis({ url: srv.url });
      await raw.connect();
      try {
        await raw.configResetStat();
        const dbs = await runCli(['list', '--url', srv.url]);
        assert.equal(dbs.code, 0, dbs.stderr);
        assert.deepEqual(dbs.stdout.trimEnd().split('\n'), [
          'region-nl\t2 collections',
          'region-nl*\t1 collection',
          'region-nlx\t1 collection',
        ]);
        const cols = await runCli(['list', 'region-nl', '--url', srv.url]);
        assert.equal(cols.code, 0, cols.stderr);
        assert.deepEqual(cols.stdout.trimEnd().split('\n'), [
          // A collection's revision is its last write's (a stamp: Redis's clock in µs).
          `artists\t3 items\trevision ${artistsRevision}`,
          `flags\t1 item\trevision ${flagsRevision}`,
        ]);
        // A glob character in a database name is matched literally.
        const glob = await runCli(['list', 'region-nl*', '--url', srv.url]);
        assert.deepEqual(glob.stdout.trimEnd().split('\n'), [`glob\t1 item\trevision ${globRevision}`]);
        const stats = await raw.info('commandstats');
        assert.match(stats, /cmdstat_scan:/);
        assert.doesNotMatch(stats, /cmdstat_keys:/);
      } finally {
        raw.destroy();
      }
    });

    it('counts only items that exist: an expired item not yet pruned is not counted', async () => {
      const c = client.database('ttl-db').collection('short');
      await c.set('stays', { a: 1 });
      const last = await c.set('goes', { a: 2 }, 0.05);
      const raw = createRedis({ url: srv.url });
      await raw.connect();
      try {
        await until(async () => (await raw.exists('memis:{ttl-db/short}:i:goes')) === 0, 'the item to expire');
        assert.equal(await raw.sCard('memis:{ttl-db/short}:keys'), 2, 'still in the member set');
      } finally {
        raw.destroy();
      }
      const r = await runCli(['list', 'ttl-db', '--url', srv.url]);
      assert.equal(r.stdout, `short\t1 item\trevision ${last}\n`);
    });

    it('prints a name holding a newline or an escape sequence as an escaped JSON string, never raw', async () => {
      const forged = 'd\nforged\t9 collections';
      const written = await client.database(forged).collection('c\u001b[31mred\u009b').set('k', { v: 1 });
      try {
        const dbs = await runCli(['list', '--url', srv.url]);
        assert.equal(dbs.code, 0, dbs.stderr);
        assert.ok(dbs.stdout.split('\n').includes('"d\\nforged\\t9 collections"\t1 collection'), dbs.stdout);
        assert.ok(!dbs.stdout.split('\n').includes('forged\t9 collections'), dbs.stdout);
        const cols = await runCli(['list', forged, '--url', srv.url]);
        assert.equal(cols.stdout, `"c\\u001b[31mred\\u009b"\t1 item\trevision ${written}\n`);
        for (const c of ['\u001b', '\u009b', '\nforged']) assert.ok(!(cols.stdout + dbs.stdout).includes(c), c);
      } finally {
        await client.database(forged).collection('c\u001b[31mred\u009b').del('k');
      }
    });

    it('says so on stderr and exits 0 when a database has no collections', async () => {
      const r = await runCli(['list', 'nothing-here', '--url', srv.url]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /No collections in database "nothing-here"/);
    });
  });

  describe('get', () => {
    it('prints every item of a collection as one JSON object', async () => {
      const r = await runCli(['get', 'region-nl', 'artists', '--url', srv.url]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), {
        coldplay: { genre: 'Alternative', rank: 1 },
        'odd key/ü': { genre: 'Odd' },
        queen: { genre: 'Rock', rank: 2 },
      });
    });

    it('prints one item as JSON', async () => {
      const r = await runCli(['get', 'region-nl', 'artists', 'odd key/ü', '--url', srv.url]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { genre: 'Odd' });
    });

    it('exits 1 with one line for a missing item or a missing collection', async () => {
      const [item, collection] = await Promise.all([
        runCli(['get', 'region-nl', 'artists', 'nope', '--url', srv.url]),
        runCli(['get', 'region-nl', 'nope', '--url', srv.url]),
      ]);
      assertOneLineFailure(item, 1, /No item "nope" in "region-nl"\/"artists"/);
      assertOneLineFailure(collection, 1, /No collection "region-nl"\/"nope"/);
    });
  });

  describe('watch', () => {
    it('prints the current items, then each change made through the API, one line each', async () => {
      const cli = start(['watch', 'region-nl', 'flags', '--url', srv.url]);
      await cli.until((c) => /Watching "region-nl"\/"flags"/.test(c.stderr), 'it watches');
      assert.equal(cli.lines.length, 1);
      const beta = /^set beta \{"on":true\} \(revision (\d+)\)$/.exec(cli.lines[0]!);
      assert.ok(beta, cli.lines[0]);
      const flags = client.database('region-nl').collection('flags');
      const revision = await flags.set('dark mode', { on: false, pct: 10 });
      await flags.del('beta');
      await cli.until((c) => c.lines.length === 3, 'two changes');
      // A delete shows the revision of the last copy held.
      assert.deepEqual(cli.lines.slice(1), [
        `set "dark mode" {"on":false,"pct":10} (revision ${revision})`,
        `delete beta {"on":true} (revision ${beta[1]})`,
      ]);
      assert.equal(await cli.stop('SIGINT'), 0);
      await flags.set('beta', { on: true });
      await flags.del('dark mode');
    });

    it('--json: one object per line with event, key, data and revision', async () => {
      const cli = start(['watch', 'region-nl', 'flags', '--url', srv.url, '--json']);
      await cli.until((c) => /Watching/.test(c.stderr), 'it watches');
      const flags = client.database('region-nl').collection('flags');
      const revision = await flags.set('gone soon', { on: true }, 0.05);
      await cli.until((c) => c.lines.length === 3, 'a set and an expire');
      const lines = cli.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const l of lines) assert.deepEqual(Object.keys(l), ['event', 'key', 'data', 'revision']);
      assert.deepEqual(
        lines.map((l) => [l.event, l.key, l.data]),
        [
          ['set', 'beta', { on: true }],
          ['set', 'gone soon', { on: true }],
          ['expire', 'gone soon', { on: true }],
        ],
      );
      assert.ok(lines.every((l) => typeof l.revision === 'number'));
      assert.deepEqual(
        lines.slice(1).map((l) => l.revision),
        [revision, revision],
      );
      assert.equal(await cli.stop('SIGTERM'), 0);
    });
  });

  describe('what comes from Redis reaches the terminal escaped', () => {
    // Characters JSON.stringify leaves raw: DEL, C1 controls (U+009B is CSI to a terminal), line and paragraph
    // separators, a right-to-left override (a format character); ESC is escaped by JSON already.
    const raw = ['\u007f', '\u0085', '\u009b', '\u2028', '\u2029', '\u202e', '\u001b'];
    const nasty = `a\u007fb\u0085c\u009b2Jd\u2028e\u2029f\u202eg\u001b[31mh`;
    const data = { text: nasty, [nasty]: [nasty] };
    const assertClean = (out: string) => {
      for (const c of raw)
        assert.ok(!out.includes(c), `U+${c.charCodeAt(0).toString(16)} printed raw: ${JSON.stringify(out)}`);
    };
    let revision = 0;
    before(async () => {
      revision = await client.database('terminal').collection('escapes').set(nasty, data);
    });

    it('get: every item and one item, still valid JSON', async () => {
      const [all, one] = await Promise.all([
        runCli(['get', 'terminal', 'escapes', '--url', srv.url]),
        runCli(['get', 'terminal', 'escapes', nasty, '--url', srv.url]),
      ]);
      assert.equal(all.code, 0, all.stderr);
      assert.equal(one.code, 0, one.stderr);
      assertClean(all.stdout + all.stderr);
      assertClean(one.stdout + one.stderr);
      assert.deepEqual(JSON.parse(all.stdout), { [nasty]: data });
      assert.deepEqual(JSON.parse(one.stdout), data);
      assert.ok(one.stdout.includes('\\u009b2J'), one.stdout);
    });

    it('get: a missing key quoted in the failure line is escaped too', async () => {
      const r = await runCli(['get', 'terminal', 'escapes', `${nasty}?`, '--url', srv.url]);
      assertOneLineFailure(r, 1, /No item ".*\\u009b2J.*" in "terminal"\/"escapes"/);
      assertClean(r.stderr);
    });

    for (const json of [false, true]) {
      it(`watch${json ? ' --json' : ''}: the key and the data of each line, still valid JSON`, async () => {
        const cli = start(['watch', 'terminal', 'escapes', '--url', srv.url, ...(json ? ['--json'] : [])]);
        await cli.until((c) => /Watching/.test(c.stderr), 'it watches');
        assert.equal(cli.lines.length, 1);
        assertClean(cli.lines[0]!);
        if (json) assert.deepEqual(JSON.parse(cli.lines[0]!), { event: 'set', key: nasty, data, revision });
        else {
          const m = /^set (".*") (\{.*\}) \(revision (\d+)\)$/.exec(cli.lines[0]!);
          assert.ok(m, cli.lines[0]);
          assert.equal(JSON.parse(m[1]!), nasty);
          assert.deepEqual(JSON.parse(m[2]!), data);
        }
        assert.equal(await cli.stop('SIGINT'), 0);
      });
    }

    it('failure lines (error messages, which may quote Redis) are escaped', () => {
      const line = oneLine(new Error(`ERR no such key ${nasty}`));
      assertClean(line);
      assert.ok(line.includes('\\u009b2J'), line);
    });
  });

  describe('failures: one line on stderr, a non-zero exit, no password', () => {
    let secured: RedisServer;
    let refusedUrl: string;
    before(async () => {
      secured = await server('password');
      refusedUrl = `redis://127.0.0.1:${await freePort()}`;
    });
    const commands: Array<[string, string[]]> = [
      ['list', ['list']],
      ['get', ['get', 'region-nl', 'artists']],
      ['watch', ['watch', 'region-nl', 'artists']],
      ['inspect', ['inspect', '--port', '0']],
    ];
    for (const [name, args] of commands) {
      it(`${name}: exits 2 on a bad URL, 1 on a refused connection and on a wrong password`, async () => {
        const wrong = `redis://:${encodeURIComponent('not-' + PASSWORD)}@127.0.0.1:${secured.port}`;
        const [bad, refused, wrongPassword] = await Promise.all([
          runCli([...args, '--url', 'redis://127.0.0.1:6379/notadb']),
          runCli([...args, '--url', refusedUrl]),
          runCli([...args, '--url', wrong]),
        ]);
        assertOneLineFailure(bad, 2, /^machinepack-redis-ts: Bad --url: .*database "notadb"/);
        assertOneLineFailure(refused, 1, /Cannot connect to redis:\/\/127\.0\.0\.1:\d+: connection refused/);
        assertOneLineFailure(wrongPassword, 1, /Cannot connect to redis:\/\/127\.0\.0\.1:\d+: wrong password/);
        for (const r of [bad, refused, wrongPassword]) assertNoPassword(r);
        assert.ok(!wrongPassword.stderr.includes('not-'), 'the wrong password is not printed either');
      });
    }

    it('get, watch: exit 1 with one line when only the pub/sub connection goes unanswered', async () => {
      // Commands pass; a connection is black-holed from the moment it sends SUBSCRIBE.
      const proxy = net.createServer((down) => {
        const up = net.connect(srv.port, '127.0.0.1');
        let hole = false;
        down.on('data', (d) => {
          if (/SUBSCRIBE/i.test(d.toString('latin1'))) hole = true;
          if (!hole) up.write(d);
        });
        up.on('data', (d) => {
          if (!hole) down.write(d);
        });
        for (const [a, b] of [
          [down, up],
          [up, down],
        ] as const) {
          a.on('error', () => b.destroy());
          a.on('close', () => b.destroy());
        }
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const url = `redis://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
      try {
        const [got, watched] = await Promise.all([
          runCli(['get', 'region-nl', 'artists', '--url', url]),
          runCli(['watch', 'region-nl', 'artists', '--url', url]),
        ]);
        for (const r of [got, watched])
          assertOneLineFailure(r, 1, /^machinepack-redis-ts: Could not load "region-nl"\/"artists" within 10 s: \S/);
      } finally {
        proxy.close();
      }
    });

    it('exits with one line on a URL of another scheme, a missing password, a wrong REDISCLI_AUTH', async () => {
      const [scheme, missing, wrongEnv] = await Promise.all([
        runCli(['list', '--url', `http://:${encodeURIComponent(PASSWORD)}@127.0.0.1:1`]),
        runCli(['watch', 'region-nl', 'artists', '--url', secured.url]),
        runCli(['get', 'region-nl', 'artists', '--url', secured.url], { REDISCLI_AUTH: 'not-' + PASSWORD }),
      ]);
      assertOneLineFailure(scheme, 2, /^machinepack-redis-ts: Bad --url: .*scheme "http:"/);
      assertOneLineFailure(missing, 1, /the server needs a password; put it in the URL or in REDISCLI_AUTH/);
      assertOneLineFailure(wrongEnv, 1, /wrong password/);
      for (const r of [scheme, missing, wrongEnv]) assertNoPassword(r);
    });

    it('takes the password from the URL or from REDISCLI_AUTH, and never prints it', async () => {
      const c = Pack.createClient(secured.url, { password: PASSWORD });
      let written = 0;
      try {
        written = await c.database('secure').collection('things').set('k', { v: 1 });
      } finally {
        await c.quit();
      }
      const withUrl = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${secured.port}`;
      const [fromUrl, fromEnv, got] = await Promise.all([
        runCli(['list', 'secure', '--url', withUrl]),
        runCli(['list', 'secure', '--url', secured.url], { REDISCLI_AUTH: PASSWORD }),
        runCli(['get', 'secure', 'things', 'k', '--url', withUrl]),
      ]);
      assert.equal(fromUrl.stdout, `things\t1 item\trevision ${written}\n`, fromUrl.stderr);
      assert.equal(fromEnv.stdout, `things\t1 item\trevision ${written}\n`, fromEnv.stderr);
      assert.deepEqual(JSON.parse(got.stdout), { v: 1 });
      const watching = start(['watch', 'secure', 'things', '--url', withUrl]);
      await watching.until((w) => /Watching/.test(w.stderr), 'it watches');
      assert.match(watching.stderr, /at redis:\/\/127\.0\.0\.1:\d+:/);
      for (const r of [fromUrl, fromEnv, got, watching]) assertNoPassword(r);
    });
  });

  describe('usage', () => {
    it('exits 2 with one line on an unknown command, option or missing argument; --help prints the usage', async () => {
      const [unknown, option, missing, noUrl, help] = await Promise.all([
        runCli(['frobnicate', '--url', 'redis://127.0.0.1:1']),
        runCli(['list', '--verbose', '--url', 'redis://127.0.0.1:1']),
        runCli(['get', 'only-db', '--url', 'redis://127.0.0.1:1']),
        runCli(['list']),
        runCli(['--help']),
      ]);
      assertOneLineFailure(unknown, 2, /Unknown command "frobnicate"/);
      assertOneLineFailure(option, 2, /Unknown option "--verbose"/);
      assertOneLineFailure(missing, 2, /Usage: machinepack-redis-ts get <database> <collection> \[key\]/);
      assertOneLineFailure(noUrl, 2, /Give the Redis URL with --url/);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /^Usage: machinepack-redis-ts <command>/);
    });

    it('parses flags in either form and takes REDISCLI_AUTH only when the URL has no password', () => {
      assert.deepEqual(parseArgs(['inspect', '--port=0', '--url=redis://h:1'], {}), {
        command: { name: 'inspect', port: 0, host: '127.0.0.1' },
        url: 'redis://h:1',
        password: undefined,
      });
      assert.equal(parseArgs(['list', '--url', 'redis://h:1'], { REDISCLI_AUTH: 'pw' }).password, 'pw');
      assert.equal(parseArgs(['list', '--url', 'redis://:x@h:1'], { REDISCLI_AUTH: 'pw' }).password, undefined);
      assert.equal(parseArgs(['list'], { REDIS_URL: 'redis://h:2' }).url, 'redis://h:2');
      assert.throws(() => parseArgs(['inspect', '--port', '70000', '--url', 'redis://h'], {}), /--port must be/);
      assert.throws(() => parseArgs(['list', '--json', '--url', 'redis://h'], {}), /--json applies to watch only/);
      assert.throws(() => parseArgs(['list', '--url', 'redis://a', '--url', 'redis://b'], {}), /--url given twice/);
      assert.throws(() => parseArgs(['watch', 'd', 'c', '--json', '--json', '--url=redis://h'], {}), /--json given/);
    });

    it('is the package bin, pointing at the compiled form of cli/main.ts (which starts with a shebang)', () => {
      const root = path.join(__dirname, '..');
      const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
      const build = JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')) as {
        include: string[];
        compilerOptions: { rootDir?: string; outDir?: string };
      };
      assert.equal(pkg.bin['machinepack-redis-ts'], 'dist/cli/main.js');
      assert.ok(build.include.includes('cli/**/*.ts'));
      assert.equal(build.compilerOptions.rootDir ?? '.', '.');
      assert.match(readFileSync(path.join(root, 'cli/main.ts'), 'utf8'), /^#!\/usr\/bin\/env node\n/);
    });
  });
});
