/**
 * The map in CONTRIBUTING.md ("Where things live"), checked: imports go one way between the layers.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = join(__dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every relative import (`import … from './x'`, `export … from`, `import('./x')`), as a path from the root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s+|import\s*\(\s*|require\(\s*)'(\.[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\\/g, '/'));
}

const files = ['index.ts', ...sources('lib'), ...sources('machines')].map((f) => f.replace(/\\/g, '/'));
const edges = files.flatMap((from) => importsOf(from).map((to) => ({ from, to })));
/** Whether `path` (with or without `.ts`) is one of `places`: a file, or a folder when it ends with `/`. */
const is = (path: string, ...places: string[]) =>
  places.some((p) =>
    p.endsWith('/') ? path.startsWith(p) || path === p.slice(0, -1) : path === p || path === p.replace(/\.ts$/, ''),
  );
const FACADE = ['lib/facade.ts', 'lib/facade-types.ts', 'lib/emitter.ts', 'lib/client-args.ts'];

function violations(fromLayer: string[], forbidden: string[]): string[] {
  return edges.filter((e) => is(e.from, ...fromLayer) && is(e.to, ...forbidden)).map((e) => `${e.from} → ${e.to}`);
}

describe('layers: imports go one way (CONTRIBUTING.md)', () => {
  it('the source files were found', () => {
    assert.ok(files.includes('lib/errors.ts') && files.some((f) => f.startsWith('machines/')));
    assert.ok(edges.some((e) => e.from === 'lib/machines.ts' && e.to.startsWith('machines/')));
  });
  it('nothing imports index.ts', () => {
    assert.deepEqual(
      edges.filter((e) => e.to === 'index').map((e) => e.from),
      [],
    );
  });
  it('lib/errors.ts and lib/secrets.ts are leaves', () => {
    const out = edges.filter(
      (e) => is(e.from, 'lib/errors.ts', 'lib/secrets.ts') && !is(e.to, 'lib/errors.ts', 'lib/secrets.ts'),
    );
    assert.deepEqual(
      out.map((e) => `${e.from} → ${e.to}`),
      [],
    );
  });
  it('the driver and the collections protocol never import machines, the faces or the facade', () => {
    assert.deepEqual(
      violations(
        ['lib/connection/', 'lib/collections/', 'lib/legacy.ts', 'lib/topology.ts', 'lib/meta.ts'],
        ['machines/', 'lib/machines.ts', 'lib/runner.ts', ...FACADE],
      ),
      [],
    );
  });
  it('the driver does not import the collections protocol', () => {
    assert.deepEqual(violations(['lib/connection/'], ['lib/collections/']), []);
  });
  it('a machine imports no other machine, no face and not the facade', () => {
    assert.deepEqual(violations(['machines/'], ['machines/', 'lib/machines.ts', 'lib/runner.ts', ...FACADE]), []);
  });
  it('only index.ts reaches the facade from outside it', () => {
    const outside = edges.filter((e) => is(e.to, ...FACADE) && !is(e.from, ...FACADE) && e.from !== 'index.ts');
    assert.deepEqual(
      outside.map((e) => `${e.from} → ${e.to}`),
      [],
    );
  });
});
