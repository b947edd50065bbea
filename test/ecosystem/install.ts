/**
 * The ecosystem install: sails and its Redis-using hooks and adapters, installed once per machine into a cache
 * folder outside the repository, keyed by a hash of the versions, in two trees:
 * - `ours`: this package substituted for every `machinepack-redis` through npm `overrides`, from an `npm pack`
 *   tarball (refreshed in place on every run: the tarball changes with the code, the rest of the tree does not);
 * - `original`: machinepack-redis 2.0.7, forced the same way (sails-redis asks for ^1.2.2 by itself).
 * Cache root: $MPR_ECOSYSTEM_CACHE, or ~/.cache/machinepack-redis-ts-ecosystem.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';

export const VERSIONS = {
  sails: '1.5.18',
  'sails-hook-orm': '4.0.3',
  'sails-hook-sockets': '3.0.2',
  '@sailshq/connect-redis': '6.1.3',
  '@sailshq/socket.io-redis': '6.1.2',
  'sails-redis': '1.0.0',
  'sails.io.js': '1.2.1',
  'socket.io-client': '2.5.0',
} as const;
export const ORIGINAL_VERSION = '2.0.7';
/** The modules that require `machinepack-redis` in a Sails app. */
export const REQUIRERS = ['sails', 'sails-hook-sockets', 'sails-redis'] as const;

export type Variant = 'ours' | 'original';

const ROOT = path.resolve(__dirname, '..', '..');
const ownPackage = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

export function cacheRoot(): string {
  return process.env.MPR_ECOSYSTEM_CACHE || path.join(homedir(), '.cache', 'machinepack-redis-ts-ecosystem');
}

/** The cache key: what decides the installed tree (not this package's code, which is refreshed every run). */
export function cacheKey(): string {
  const what = {
    VERSIONS,
    ORIGINAL_VERSION,
    node: process.versions.node.split('.')[0],
    ours: ownPackage.dependencies,
  };
  return createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 16);
}

export function variantDir(variant: Variant): string {
  return path.join(cacheRoot(), cacheKey(), variant);
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

const TARBALL = 'machinepack-redis-ts.tgz';

/** `npm pack` this repository (its `prepack` builds dist/), into a fresh temp folder. Returns the tarball. */
async function pack(): Promise<string> {
  const dest = mkdtempSync(path.join(tmpdir(), 'mpr-pack-'));
  const out = await run('npm', ['pack', '--json', '--pack-destination', dest], ROOT);
  const [{ filename }] = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string }>;
  return path.join(dest, filename);
}

export interface InstallReport {
  dir: string;
  /** Whether the tree was installed now (cold) or found in the cache. */
  cold: boolean;
  installMs: number;
}

/** Make sure `variant`'s tree is installed (and, for `ours`, holds this code). */
export async function ensureInstalled(variant: Variant): Promise<InstallReport> {
  const dir = variantDir(variant);
  const started = Date.now();
  const marker = path.join(dir, '.complete');
  const tarball = variant === 'ours' ? await pack() : undefined;
  let cold = false;
  if (!existsSync(marker)) {
    cold = true;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    if (tarball) copyFileSync(tarball, path.join(dir, TARBALL));
    const override = variant === 'ours' ? `file:./${TARBALL}` : ORIGINAL_VERSION;
    writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify(
        {
          name: `mpr-ecosystem-${variant}`,
          private: true,
          version: '0.0.0',
          dependencies: VERSIONS,
          overrides: { 'machinepack-redis': override },
        },
        null,
        2,
      ),
    );
    await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], dir);
    writeFileSync(marker, new Date().toISOString());
  } else if (tarball) {
    // Refresh this package in place: same tree, new code. The dependencies are part of the cache key.
    // Its own node_modules stays: npm nests redis 6 there (the app's top level has socket.io-redis' redis 3).
    const installed = path.join(dir, 'node_modules', 'machinepack-redis');
    for (const entry of readdirSync(installed))
      if (entry !== 'node_modules') rmSync(path.join(installed, entry), { recursive: true, force: true });
    await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'], dir);
    copyFileSync(tarball, path.join(dir, TARBALL));
  }
  if (tarball) rmSync(path.dirname(tarball), { recursive: true, force: true });
  return { dir, cold, installMs: Date.now() - started };
}

interface LsNode {
  version?: string;
  invalid?: string;
  missing?: boolean;
  dependencies?: Record<string, LsNode>;
}

/**
 * Check the substitution: `npm ls` shows only the expected machinepack-redis, and each requirer's
 * `require.resolve('machinepack-redis')` lands on it. Returns what each requirer resolves (for the report).
 */
export async function verifyInstall(variant: Variant): Promise<Record<string, string>> {
  const dir = variantDir(variant);
  const ls = JSON.parse(await run('npm', ['ls', 'machinepack-redis', '--all', '--json'], dir)) as LsNode;
  const expected = variant === 'ours' ? ownPackage.version : ORIGINAL_VERSION;
  const found: string[] = [];
  const walk = (node: LsNode) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      if (name === 'machinepack-redis') {
        if (child.invalid || child.missing || child.version !== expected)
          throw new Error(`npm ls: machinepack-redis ${JSON.stringify(child)} (expected ${expected})`);
        found.push(child.version);
      }
      walk(child);
    }
  };
  walk(ls);
  if (found.length < REQUIRERS.length)
    throw new Error(`npm ls shows ${found.length} machinepack-redis, expected one per requirer`);
  if (variant === 'ours') {
    // Our code must load the redis it declares (npm nests it: the app's top level has socket.io-redis' redis 3).
    const from = path.join(dir, 'node_modules', 'machinepack-redis');
    const redisPkg = JSON.parse(readFileSync(require.resolve('redis/package.json', { paths: [from] }), 'utf8')) as {
      version: string;
    };
    const major = ownPackage.dependencies.redis!.replace(/^\D*/, '').split('.')[0];
    if (redisPkg.version.split('.')[0] !== major)
      throw new Error(`machinepack-redis loads redis ${redisPkg.version}, expected ${ownPackage.dependencies.redis}`);
  }
  const resolved: Record<string, string> = {};
  for (const requirer of REQUIRERS) {
    const from = path.dirname(require.resolve(`${requirer}/package.json`, { paths: [dir] }));
    const pkgFile = require.resolve('machinepack-redis/package.json', { paths: [from] });
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { name: string; version: string };
    const want = variant === 'ours' ? 'machinepack-redis-ts' : 'machinepack-redis';
    if (pkg.name !== want || pkg.version !== expected)
      throw new Error(`${requirer} resolves machinepack-redis to ${pkg.name}@${pkg.version} (${pkgFile})`);
    resolved[requirer] = `${pkg.name}@${pkg.version}`;
  }
  return resolved;
}
