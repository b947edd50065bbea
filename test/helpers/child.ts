/**
 * Running a snippet of JavaScript against this package in a child process, to see how the process ends: a child
 * that does not exit by itself within `waitMs` of finishing its body keeps something open, and is killed.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export interface ChildOptions {
  /** JavaScript run before the body (more names in scope). */
  prelude?: string;
  /** How long after printing DONE the child may take to exit by itself before it is killed (ms). */
  waitMs?: number;
  /** Called with everything printed so far, at every output. */
  onOutput?: (out: string) => void;
}

/**
 * Runs `body` (JavaScript, with `Pack` and `URL_` in scope) in a child process and resolves with what it printed
 * (DONE when the body finished, THREW and the stack when it threw) and how it ended.
 */
export function runChild(
  body: string,
  url: string,
  { prelude = '', waitMs = 20000, onOutput }: ChildOptions = {},
): Promise<{ out: string; code: number | null; killed: boolean }> {
  const script = `
    const Pack = require(${JSON.stringify(path.join(ROOT, 'index.ts'))}).default;
    const URL_ = ${JSON.stringify(url)};
    ${prelude}
    (async () => { ${body} })().then(
      () => { console.log('DONE'); },
      (err) => { console.log('THREW ' + (err && err.stack)); process.exitCode = 3; },
    );`;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let killed = false;
    let guard: NodeJS.Timeout | undefined;
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      onOutput?.(out);
      if (out.includes('DONE') && !guard) guard = setTimeout(() => ((killed = true), p.kill('SIGKILL')), waitMs);
    });
    p.on('exit', (code) => {
      clearTimeout(guard);
      resolve({ out, code, killed });
    });
  });
}
