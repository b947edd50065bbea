/**
 * Documentation that cannot rot: every fenced `ts` / `js` block of the README is type-checked (strict), the
 * TypeScript ones as ES modules under nodenext (they use top-level `await`), the JavaScript ones as CommonJS
 * with checkJs, each importing the package by its published name. Blocks not marked `no-run` then run, each in its
 * own Node process, against a private redis-server (their `redis://127.0.0.1:6379` is pointed at it); each must
 * exit by itself, which also shows it leaves nothing running.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { server } from './helpers/redis-server';

const ROOT = path.resolve(__dirname, '..');

export interface Block {
  lang: 'ts' | 'js';
  code: string;
  line: number;
  run: boolean;
}

/** The README's fenced ts/js blocks (a `no-run` word after the language marks a block as compile-only). */
export function readmeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|js|typescript|javascript)\b(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const start = i + 1;
    while (i + 1 < lines.length && !/^```\s*$/.test(lines[i + 1]!)) i++;
    const lang = open[1]!.startsWith('t') ? 'ts' : 'js';
    blocks.push({
      lang,
      code: lines.slice(start, i + 1).join('\n'),
      line: start + 1,
      run: !/\bno-run\b/.test(open[2]!),
    });
    i++;
  }
  return blocks;
}

const blocks = readmeBlocks(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
const fileOf = (b: Block) => path.join(ROOT, 'test', '__readme__', `line-${b.line}.${b.lang === 'ts' ? 'mts' : 'cjs'}`);

describe('README code blocks', function () {
  this.timeout(180000);

  it('has ts and js blocks, most of them runnable', () => {
    assert.ok(blocks.filter((b) => b.lang === 'ts').length >= 3);
    assert.ok(blocks.filter((b) => b.lang === 'js').length >= 2);
    assert.ok(blocks.filter((b) => b.run).length >= 3);
  });

  it('every ts/js block type-checks (strict)', () => {
    const virtual = new Map(blocks.map((b) => [fileOf(b), b.code]));
    const options: ts.CompilerOptions = {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      strict: true,
      noEmit: true,
      allowJs: true,
      checkJs: true,
      skipLibCheck: true,
      esModuleInterop: true,
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      paths: { 'machinepack-redis-ts': [path.join(ROOT, 'index.ts')] },
    };
    const host = ts.createCompilerHost(options);
    const { getSourceFile, fileExists, readFile } = host;
    host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
    host.readFile = (f) => virtual.get(f) ?? readFile.call(host, f);
    host.getSourceFile = (f, language, ...rest) =>
      virtual.has(f)
        ? ts.createSourceFile(f, virtual.get(f)!, language)
        : getSourceFile.call(host, f, language, ...rest);
    const program = ts.createProgram([...virtual.keys()], options, host);
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => !d.file || virtual.has(d.file.fileName))
      .map((d) => {
        const where = d.file ? d.file.getLineAndCharacterOfPosition(d.start ?? 0) : undefined;
        const block = d.file ? blocks.find((b) => fileOf(b) === d.file!.fileName) : undefined;
        const line = block && where ? `README.md:${block.line + where.line}` : 'README.md';
        return `${line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    assert.deepEqual(problems, []);
  });

  describe('runnable blocks run against a private server and exit by themselves', () => {
    let work: string;
    let url: string;
    before(async () => {
      url = (await server('plain')).url;
      work = mkdtempSync(path.join(tmpdir(), 'mpr-readme-'));
    });
    after(() => rmSync(work, { recursive: true, force: true }));

    for (const block of blocks.filter((b) => b.run)) {
      it(`README.md:${block.line} (${block.lang})`, async () => {
        const file = path.join(work, `line-${block.line}.cjs`);
        writeFileSync(file, runnable(block, url));
        const out = await new Promise<string>((resolve, reject) => {
          execFile(
            process.execPath,
            [
              '-r',
              'ts-node/register/transpile-only',
              '-r',
              path.join(ROOT, 'test', 'helpers', 'package-alias.ts'),
              file,
            ],
            { cwd: ROOT, timeout: 120000 },
            (err, stdout, stderr) => {
              if (err)
                reject(
                  new Error(
                    `README.md:${block.line} ${err.killed ? 'did not exit by itself (something kept the process alive)' : 'failed'}:\n${stdout}${stderr}`,
                  ),
                );
              else resolve(stdout + stderr);
            },
          );
        });
        assert.doesNotMatch(out, /Error|Unhandled|warning/i, out);
      });
    }
  });
});

/**
 * A block as a CommonJS file: TypeScript transpiled, its imports turned into requires and its body wrapped in
 * an async function (for top-level `await`), the default server pointed at the private one.
 */
function runnable(block: Block, url: string): string {
  let code = block.code.replace(/redis:\/\/127\.0\.0\.1:6379/g, url);
  if (block.lang === 'js') return code;
  code = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  code = code
    .replace(/^import (\w+) from ('[^']+');$/gm, 'const $1 = __default(require($2));')
    .replace(/^import \* as (\w+) from ('[^']+');$/gm, 'const $1 = require($2);')
    .replace(/^import (\{[^}]+\}) from ('[^']+');$/gm, (_m, names: string, mod: string) => {
      return `const ${names.replace(/ as /g, ': ')} = require(${mod});`;
    });
  assert.doesNotMatch(code, /^import /m, 'an import form the README runner does not handle');
  return [
    'const __default = (m) => (m && m.__esModule ? m.default : m);',
    '(async () => {',
    code,
    '})().catch((err) => { console.error(err); process.exitCode = 1; });',
  ].join('\n');
}
