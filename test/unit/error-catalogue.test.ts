/**
 * The error catalogue is complete: every code the built package contains is a member of `ErrorCodes`
 * (lib/errors.ts) and a row of the README's Errors table; no code is a bare literal outside lib/errors.ts.
 * It compiles the package (as `npm run build` does) into a temporary directory and reads what would be shipped.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ErrorCodes, SOCKET_ERROR_CODES, WarningCodes } from '../../lib/errors';
import { machines } from '../../lib/machines';

const ROOT = join(__dirname, '..', '..');
/** A code literal: `E_…` or `ERR_…` in capitals, not inside a longer identifier. */
const CODE = /(?<![A-Za-z0-9_$])(?:E|ERR)_[A-Z0-9][A-Z0-9_]*/g;
/** A code built at run time (`E_${…}`, `'E_' + …`): the catalogue cannot see it. */
const BUILT = /(?<![A-Za-z0-9_$])(?:E|ERR)_(?:\$\{|['"`]\s*\+)/g;

function filesUnder(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path, ext));
    else if (ext.test(entry.name)) out.push(path);
  }
  return out;
}

/** The `## Errors` section of the README (up to the next `## ` heading). */
function readmeErrors(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Errors');
  assert.ok(start >= 0, 'README.md has no "## Errors" section');
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

function howToAdd(code: string): string {
  const key = code.replace(/^(E|ERR)_/, '');
  return (
    `To add ${code}: (1) in lib/errors.ts, a member of ErrorCodes with a one-line JSDoc saying when it happens, ` +
    `e.g. \`/** … */ ${key}: '${code}',\`; (2) in README.md's "## Errors" table, a row ` +
    `\`| \`${code}\` | when it happens | what the caller should do |\`; (3) where it is raised, write ` +
    `ErrorCodes.${key} instead of the string.`
  );
}

const catalogue = new Set<string>(Object.values(ErrorCodes));

describe('error catalogue (lib/errors.ts ErrorCodes, README Errors table)', () => {
  let dist: string;
  let built: string[];
  before(function () {
    this.timeout(180_000);
    dist = mkdtempSync(join(tmpdir(), 'mpr-dist-'));
    const tsc = require.resolve('typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', dist, '--sourceMap', 'false'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    built = filesUnder(dist, /\.(js|d\.ts)$/);
  });
  after(() => rmSync(dist, { recursive: true, force: true }));

  it('compiles to a dist with the pack in it', () => {
    assert.ok(built.some((f) => f.endsWith(join('lib', 'errors.js'))));
    assert.ok(built.length > 20, `only ${built.length} files built`);
  });

  it('every E_/ERR_ code in the built package is in ErrorCodes (or a Node.js socket code we only recognise)', () => {
    const missing = new Map<string, Set<string>>();
    for (const file of built) {
      const text = readFileSync(file, 'utf8');
      for (const [code] of text.matchAll(CODE)) {
        if (catalogue.has(code) || SOCKET_ERROR_CODES.has(code)) continue;
        if (!missing.has(code)) missing.set(code, new Set());
        missing.get(code)!.add(relative(dist, file));
      }
    }
    assert.deepEqual(
      [...missing.keys()],
      [],
      [...missing]
        .map(([code, files]) => `${code} (in ${[...files].join(', ')}) is not in the catalogue. ${howToAdd(code)}`)
        .join('\n'),
    );
  });

  it('no code is built at run time (E_${…} or "E_" + …)', () => {
    const found = built.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(BUILT)].map((m) => `${relative(dist, file)}: ${m[0]}…`),
    );
    assert.deepEqual(found, [], 'Codes must be ErrorCodes members, not assembled strings (map by a table).');
  });

  it('no code is a bare string literal outside lib/errors.ts', () => {
    const sources = [
      join(ROOT, 'index.ts'),
      ...filesUnder(join(ROOT, 'lib'), /\.ts$/),
      ...filesUnder(join(ROOT, 'machines'), /\.ts$/),
    ].filter((f) => !f.endsWith(join('lib', 'errors.ts')));
    const literal = /(['"])((?:E|ERR|MPR)_[A-Z0-9_]+)\1/g;
    const found = sources.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(literal)].map(
        (m) =>
          `${relative(ROOT, file)}: ${m[0]} — use ErrorCodes.${
            Object.entries({ ...ErrorCodes, ...WarningCodes }).find(([, v]) => v === m[2])?.[0] ?? '<new member>'
          }`,
      ),
    );
    assert.deepEqual(found, [], `Write ErrorCodes.X (or WarningCodes.X), not the string:\n${found.join('\n')}`);
  });

  it("the README's Errors table has a row for every code and warning code", () => {
    const section = readmeErrors();
    const absent = [...Object.values(ErrorCodes), ...Object.values(WarningCodes)].filter(
      (code) => !new RegExp(`^\\|[^\\n]*\`${code}\``, 'm').test(section),
    );
    assert.deepEqual(
      absent,
      [],
      absent
        .map(
          (code) =>
            `README.md "## Errors": no table row names \`${code}\`. Add \`| \`${code}\` | when it happens | what the caller should do |\`.`,
        )
        .join('\n'),
    );
  });

  it('every ErrorCodes member has a one-line JSDoc', () => {
    const source = readFileSync(join(ROOT, 'lib', 'errors.ts'), 'utf8');
    const body = source.slice(source.indexOf('export const ErrorCodes = {'), source.indexOf('} as const;'));
    const lines = body.split('\n');
    const undocumented = Object.keys(ErrorCodes).filter((key) => {
      const i = lines.findIndex((l) => l.trim().startsWith(`${key}:`));
      return i < 1 || !/^\s*\/\*\*.*\*\/\s*$/.test(lines[i - 1]!);
    });
    assert.deepEqual(undocumented, [], `Give these ErrorCodes members a one-line /** … */ above them in lib/errors.ts`);
  });

  it('codes are unique, and every machine exit other than success is a code (its Exception carries it)', () => {
    assert.equal(catalogue.size, Object.keys(ErrorCodes).length, 'two ErrorCodes members share a value');
    const exits = new Set<string>();
    for (const m of Object.values(machines))
      for (const e of Object.keys(m.def.exits)) if (e !== 'success') exits.add(e);
    const absent = [...exits].filter((e) => !catalogue.has(e));
    assert.deepEqual(
      absent,
      [],
      `Exits without a catalogue member: add \`EXIT_<NAME>: '<exit>'\` to ErrorCodes and a README Errors row for each.`,
    );
  });
});
