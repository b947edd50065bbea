/** The runner face's traps for newcomers: each mistake is refused at once, with a message that says what to do. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import Pack from '../index';
import type { Connection, Manager } from '../index';
import { connect } from './helpers/connect';
import { server } from './helpers/redis-server';

const ROOT = path.resolve(__dirname, '..');
type Coded = Error & { code?: string };
const loose = Pack as unknown as Record<string, (argins: unknown) => { switch(h: unknown): void; now(): unknown }>;

describe('runner-face traps', () => {
  let manager: Manager;
  let connection: Connection;
  before(async () => {
    ({ manager, connection } = await connect((await server('plain')).url));
  });
  after(() => Pack.promises.destroyManager({ manager }));

  it('.switch() without an error handler throws at once, saying what to add; nothing runs', async () => {
    await Pack.promises.cacheValue({ connection, key: 'trap:switch', value: 1 });
    assert.throws(
      () => loose.destroyCachedValues!({ connection, keys: ['trap:switch'] }).switch({ success: () => undefined }),
      (err: Coded) =>
        err instanceof TypeError &&
        err.code === 'E_MISSING_ERROR_HANDLER' &&
        /needs an `error` handler/.test(err.message),
    );
    // the machine did not run: the value is still there
    assert.deepEqual(await Pack.promises.getCachedValue({ connection, key: 'trap:switch' }), { value: 1 });
  });

  it('…and the process neither hangs nor prints the runner\'s "missing an await" warning', async () => {
    const script = [
      "const Pack = require('./index.ts');",
      'try { Pack.getCachedValue({ connection: {}, key: "k" }).switch({ success() {} }); }',
      'catch (err) { console.log(err.code); }',
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', '-e', script],
        { cwd: ROOT, timeout: 60000, env: { ...process.env, NODE_ENV: 'development' } },
        (err, stdout, stderr) => (err ? reject(err) : resolve(stdout + stderr)),
      ),
    );
    assert.equal(out.trim(), 'E_MISSING_ERROR_HANDLER');
  });

  it('an input name that looks like a typo of a missing input is refused with "did you mean"', () => {
    assert.throws(
      () => loose.cacheValue!({ connection, key: 'k', val: 1 }),
      (err: Coded) =>
        err.code === 'E_INVALID_ARGINS' && /has no input `val` \(did you mean `value`\?\)/.test(err.message),
    );
    assert.throws(
      () => loose.cacheValue!({ connection, key: 'k', value: 1, tll: 60 }),
      /has no input `tll` \(did you mean `ttl`\?\)/,
    );
  });

  it('other undeclared argins keep the runner behaviour (dropped with its warning), as callers may pass extras', async () => {
    const warn = console.warn;
    console.warn = () => undefined;
    try {
      await (loose.cacheValue!({
        connection,
        key: 'trap:extra',
        value: 2,
        datastoreIdentity: 'x',
      }) as unknown as Promise<void>);
    } finally {
      console.warn = warn;
    }
    assert.deepEqual(await Pack.promises.getCachedValue({ connection, key: 'trap:extra' }), { value: 2 });
  });

  it('.now() on an asynchronous machine says to use await / exec / switch', () => {
    assert.throws(
      () => loose.getConnection!({ manager }).now(),
      (err: Coded) =>
        err.code === 'E_NOT_SYNCHRONOUS' && /getConnection\(\) is asynchronous.*Use `await`/.test(err.message),
    );
    assert.equal(Pack.createConnectionUrl({ port: 6390 }).now(), 'redis://127.0.0.1:6390');
  });

  it('m(argins, undefined) (an optional callback passed on) is the guarded deferred form', async () => {
    const withCb = Pack as unknown as Record<
      string,
      (argins: unknown, cb: undefined) => { switch(h: unknown): void; now(): unknown } & PromiseLike<unknown>
    >;
    assert.throws(
      () => withCb.getCachedValue!({ connection, key: 'trap:none' }, undefined).switch({ success: () => undefined }),
      (err: Coded) => err.code === 'E_MISSING_ERROR_HANDLER',
    );
    assert.throws(
      () => withCb.getConnection!({ manager }, undefined).now(),
      (err: Coded) => err.code === 'E_NOT_SYNCHRONOUS',
    );
    await Pack.promises.cacheValue({ connection, key: 'trap:undefcb', value: 3 });
    assert.deepEqual(await withCb.getCachedValue!({ connection, key: 'trap:undefcb' }, undefined), { value: 3 });
  });

  it('getCachedValue<T> gives the value the type the caller expects, on both faces', async () => {
    await Pack.promises.cacheValue({ connection, key: 'trap:typed', value: { name: 'Ada' } });
    const a = await Pack.getCachedValue<{ name: string }>({ connection, key: 'trap:typed' });
    const b = await Pack.promises.getCachedValue<{ name: string }>({ connection, key: 'trap:typed' });
    assert.equal(a.value.name, 'Ada');
    assert.equal(b.value.name, 'Ada');
  });
});

describe("the runner's argin checks (calls that pass them skip them: same outcomes either way)", () => {
  let manager: Manager;
  let connection: Connection;
  before(async () => {
    ({ manager, connection } = await connect((await server('plain')).url));
  });
  after(() => Pack.promises.destroyManager({ manager }));

  it("an undeclared argin is still dropped with the runner's warning; declared ones arrive", async () => {
    const warn = console.warn;
    const warnings: string[] = [];
    console.warn = (...a: unknown[]) => void warnings.push(a.join(' '));
    try {
      await (loose.cacheValue!({
        connection,
        key: 'argins:extra',
        value: 3,
        notAnInput: 1,
      }) as unknown as Promise<void>);
      await Pack.cacheValue({ connection, key: 'argins:plain', value: 4 });
    } finally {
      console.warn = warn;
    }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /trimmed extraneous values[\s\S]*cacheValue\(\)[\s\S]*notAnInput/);
    assert.deepEqual(await Pack.getCachedValue({ connection, key: 'argins:extra' }), { value: 3 });
    assert.deepEqual(await Pack.getCachedValue({ connection, key: 'argins:plain' }), { value: 4 });
  });

  it("'', null and a missing required input are the runner's UsageError, listing each problem", async () => {
    for (const [argins, problem] of [
      [{ connection, key: '' }, /Invalid "key": {2}Cannot use '' \(empty string\) for a required input\./],
      [{ connection, key: null }, /Invalid "key": {2}Cannot use `null` for this required input\./],
      [{ connection }, /"key" is required, but it was not defined\./],
      [{ key: 'k', connection: undefined }, /"connection" is required, but it was not defined\./],
    ] as const) {
      await assert.rejects(
        loose.getCachedValue!(argins) as unknown as Promise<unknown>,
        (err: Coded & { problems?: string[] }) =>
          err.name === 'UsageError' &&
          err.code === 'E_INVALID_ARGINS' &&
          err.problems!.length === 1 &&
          problem.test(err.problems![0]!),
      );
    }
  });

  it("the caller's argins are left as they were (no default added, no undefined key removed)", async () => {
    const argins = { port: 6391, db: undefined };
    assert.equal(Pack.createConnectionUrl(argins).now(), 'redis://127.0.0.1:6391');
    assert.deepEqual(Object.keys(argins), ['port', 'db']);
    const cache = { connection, key: 'argins:same', value: { a: 1 }, ttl: undefined };
    await Pack.cacheValue(cache);
    assert.deepEqual(Object.keys(cache), ['connection', 'key', 'value', 'ttl']);
    assert.deepEqual(await Pack.getCachedValue({ connection, key: 'argins:same' }), { value: { a: 1 } });
  });

  it("defaults set with Pack.configure() apply, ahead of the inputs' own defaults (in a child process)", async () => {
    const script = [
      "const Pack = require('./index.ts');",
      'console.log(Pack.createConnectionUrl({}).now());',
      'Pack.configure({ port: 7001, host: undefined });',
      'console.log(Pack.createConnectionUrl({}).now());',
      "console.log(Pack.createConnectionUrl({ host: 'h' }).now());",
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', '-e', script],
        { cwd: ROOT, timeout: 60000, env: { ...process.env, NODE_ENV: 'production' } },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    assert.deepEqual(out.trim().split('\n'), ['redis://127.0.0.1:6379', 'redis://127.0.0.1:7001', 'redis://h:7001']);
  });
});

describe('a forgotten connection keeps the process alive', () => {
  /** Run `script` in a child; once it prints "ready", interrupt it as a user would (Ctrl-C). */
  function interrupt(
    script: string,
    env: Record<string, string> = {},
  ): Promise<{ stderr: string; signal: string | null }> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', '-e', script],
        { cwd: ROOT, timeout: 60000, env: { ...process.env, NODE_ENV: 'development', ...env } },
        (err, _stdout, stderr) => {
          const signal = (err as { signal?: string } | null)?.signal ?? null;
          if (err && signal !== 'SIGINT') reject(err);
          else resolve({ stderr, signal });
        },
      );
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) child.kill('SIGINT');
      });
    });
  }
  const forgetful = (url: string) =>
    [
      "const Pack = require('./index.ts');",
      '(async () => {',
      `  const { manager } = await Pack.promises.createManager({ connectionString: ${JSON.stringify(url)} });`,
      '  await Pack.promises.getConnection({ manager });',
      "  console.log('ready');",
      '})();',
    ].join('\n');

  it('on Ctrl-C, says which connections are open and what to call, then ends by SIGINT as usual', async () => {
    const { url } = await server('plain');
    const { stderr, signal } = await interrupt(forgetful(url));
    assert.equal(signal, 'SIGINT');
    assert.match(stderr, /interrupted with Redis connections still open \(1 on redis:\/\/127\.0\.0\.1:\d+\)/);
    assert.match(stderr, /releaseConnection\(\{ connection \}\).*destroyManager\(\{ manager \}\)/);
  });

  it('stays silent when the application handles SIGINT itself', async () => {
    const { url } = await server('plain');
    const script = `${forgetful(url)}\nprocess.on('SIGINT', () => { console.error('app shutdown'); process.exit(0); });`;
    const { stderr, signal } = await interrupt(script);
    assert.equal(signal, null);
    assert.doesNotMatch(stderr, /machinepack-redis-ts/);
    assert.match(stderr, /app shutdown/);
  });
});
