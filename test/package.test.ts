/**
 * The published package, as a newcomer gets it: `npm pack` (which builds dist/ through `prepack`), checked with
 * the tools made for it (publint, Are the Types Wrong?), installed from the tarball into a fresh temp folder and
 * used from CommonJS, from ESM, and from TypeScript under nodenext, node16 (CommonJS) and bundler resolution.
 * Installing prefers npm's cache (`--prefer-offline`): `npm ci` caches the tarballs but not the registry's
 * metadata that resolving the tarball's ranges needs, so a fresh machine fetches that from the registry.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { machines } from '../lib/machines';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const BIN = (name: string) => path.join(ROOT, 'node_modules', '.bin', name);

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env } });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

const MACHINE_NAMES = Object.keys(machines);

const CJS_CONSUMER = `
const assert = require('node:assert/strict');
const Pack = require('machinepack-redis-ts');
assert.equal(typeof Pack.createManager, 'function');
assert.equal(Pack.default, Pack);
for (const name of ${JSON.stringify(MACHINE_NAMES)}) {
  assert.equal(typeof Pack[name], 'function', name);
  assert.equal(typeof Pack.promises[name], 'function', 'promises.' + name);
}
assert.equal(Pack.createConnectionUrl({ port: 6380 }).now(), 'redis://127.0.0.1:6380');
assert.equal(typeof Pack.createClient, 'function');
assert.equal(Pack.ErrorCodes.INVALID_INPUT, 'E_INVALID_INPUT');
console.log('cjs ok');
`;

const ESM_CONSUMER = `
import assert from 'node:assert/strict';
import Pack, * as named from 'machinepack-redis-ts';
import { createManager, getCachedValue, promises, createClient, ErrorCodes, machines, redis } from 'machinepack-redis-ts';
assert.equal(Pack.createManager, createManager);
assert.equal(Pack.getCachedValue, getCachedValue);
assert.equal(Pack.promises, promises);
for (const name of ${JSON.stringify(MACHINE_NAMES)}) {
  assert.equal(typeof named[name], 'function', name);
  assert.equal(named[name], Pack[name], name);
}
assert.equal(Pack.createConnectionUrl({ port: 6380 }).now(), 'redis://127.0.0.1:6380');
assert.equal(typeof createClient, 'function');
assert.equal(typeof redis.createClient, 'function');
assert.ok(machines.getCachedValue.def.friendlyName);
assert.equal(ErrorCodes.INVALID_INPUT, 'E_INVALID_INPUT');
console.log('esm ok');
`;

/** Compiles under every mode; each `@ts-expect-error` must be an error, or tsc fails. */
const TS_CONSUMER = `
import Pack, { createManager, getCachedValue, promises, createClient, ErrorCodes } from 'machinepack-redis-ts';
import type { Collection, MemisClient, Manager, Connection } from 'machinepack-redis-ts';

const url: string = Pack.createConnectionUrl({ port: 6380 }).now();
const sameMachine: typeof createManager = Pack.createManager;
const check = (manager: Manager, connection: Connection) => {
  void Pack.getConnection({ manager, timeout: 100 });
  void promises.cacheValue({ connection, key: 'k', value: 1, ttl: 60 });
  void getCachedValue({ connection, key: 'k' });
  // @ts-expect-error: ttl is a number
  void Pack.promises.cacheValue({ connection, key: 'k', value: 1, ttl: '60' });
};
// @ts-expect-error: no such machine
void Pack.getCashedValue;
const client: MemisClient = createClient({ port: 6390 });
const artists: Collection<{ genre: string }> = client.database('d').collection('artists');
artists.on('set', (key, data) => void [key, data.genre]).multi('expire delete', () => undefined);
const unknownEvent = () =>
  // @ts-expect-error: unknown event
  artists.multi('expire gone', () => undefined);
const code: 'E_INVALID_INPUT' = ErrorCodes.INVALID_INPUT;
void client.quit();
console.log(JSON.stringify({ url, machine: typeof sameMachine, code, check: typeof check, unknownEvent: typeof unknownEvent }));
`;

const MODES: Array<{ name: string; type: 'module' | 'commonjs'; compilerOptions: Record<string, unknown> }> = [
  { name: 'nodenext', type: 'module', compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' } },
  { name: 'node16', type: 'commonjs', compilerOptions: { module: 'node16', moduleResolution: 'node16' } },
  { name: 'bundler', type: 'module', compilerOptions: { module: 'esnext', moduleResolution: 'bundler' } },
];

describe('the published package (npm pack tarball)', function () {
  this.timeout(240000);
  let work: string;
  let tarball: string;
  let packageDir: string;
  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'mpr-pack-'));
    await sh('npm', ['pack', '--pack-destination', work, '--loglevel=error'], ROOT);
    tarball = path.join(
      work,
      readdirSync(work).find((f) => f.endsWith('.tgz'))!,
    );
    const consumer = path.join(work, 'consumer');
    mkdirSync(consumer);
    writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], consumer);
    packageDir = path.join(consumer, 'node_modules', 'machinepack-redis-ts');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('ships dist/, LICENSE, README and metadata, and no install-time script', () => {
    const files = readdirSync(packageDir);
    assert.deepEqual(files.sort(), ['LICENSE', 'README.md', 'dist', 'package.json']);
    const pkg = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
    for (const field of ['repository', 'homepage', 'bugs', 'license', 'exports', 'types'])
      assert.ok(pkg[field], `package.json has ${field}`);
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare'])
      assert.equal(pkg.scripts?.[script], undefined, `no ${script} script`);
    const dist = readdirSync(path.join(packageDir, 'dist'), { recursive: true }) as string[];
    assert.ok(dist.includes('index.js') && dist.includes('index.d.ts'));
    assert.ok(!dist.some((f) => f.startsWith('test') || f.endsWith('.map')), 'no tests or source maps');
  });

  it('links only to what it ships or to the repository', () => {
    const readme = readFileSync(path.join(packageDir, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
    const local = links.filter((l) => !/^(https?:|#)/.test(l));
    assert.deepEqual(local, [], 'relative links to files the package does not ship');
  });

  it('passes publint and Are the Types Wrong? on the tarball', async () => {
    const publint = await sh(BIN('publint'), ['run', tarball, '--strict'], work);
    assert.doesNotMatch(publint, /Errors?:|Warnings?:|Suggestions?:/, publint);
    const attw = await sh(BIN('attw'), [tarball, '--format', 'ascii', '--no-color'], work);
    assert.match(attw, /No problems found/, attw);
  });

  it('works from CommonJS: require() is the pack, every machine on it', async () => {
    writeFileSync(path.join(work, 'consumer', 'cjs.cjs'), CJS_CONSUMER);
    assert.match(await sh(process.execPath, ['cjs.cjs'], path.join(work, 'consumer')), /cjs ok/);
  });

  it('works from ESM: a default import and a named import for every machine', async () => {
    writeFileSync(path.join(work, 'consumer', 'esm.mjs'), ESM_CONSUMER);
    assert.match(await sh(process.execPath, ['esm.mjs'], path.join(work, 'consumer')), /esm ok/);
  });

  for (const mode of MODES) {
    it(`works from TypeScript (${mode.name}): import Pack from … is fully typed, and runs`, async () => {
      const dir = path.join(work, 'consumer', mode.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `c-${mode.name}`, type: mode.type }));
      writeFileSync(path.join(dir, 'index.ts'), TS_CONSUMER);
      writeFileSync(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            ...mode.compilerOptions,
            target: 'ES2022',
            strict: true,
            skipLibCheck: true,
            outDir: 'out',
            typeRoots: [path.join(ROOT, 'node_modules', '@types')],
            types: ['node'],
          },
          files: ['index.ts'],
        }),
      );
      await sh(process.execPath, [TSC, '-p', 'tsconfig.json'], dir);
      const out = await sh(process.execPath, [path.join('out', 'index.js')], dir);
      assert.deepEqual(JSON.parse(out.trim()), {
        url: 'redis://127.0.0.1:6380',
        machine: 'function',
        code: 'E_INVALID_INPUT',
        check: 'function',
        unknownEvent: 'function',
      });
    });
  }
});
