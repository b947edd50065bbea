/**
 * The `machinepack-redis-ts` command run as a child process, as a user runs it: compiled to JavaScript first
 * (as the package ships it), because starting ts-node in every child costs seconds on a busy machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.join(__dirname, '..', '..');
/** Inside the project, so the compiled files find its node_modules; one per test process. */
const OUT = path.join(ROOT, 'node_modules', '.cache', `mpr-cli-test-${process.pid}`);
let built: string | undefined;

/** Transpile index.ts, lib/, machines/ and cli/ (no type check: `npm run typecheck` does that) into OUT, once. */
function compiledMain(): string {
  if (built) return built;
  const sources = ['index.ts'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) sources.push(rel);
    }
  };
  walk('lib');
  walk('machines');
  walk('cli');
  for (const rel of sources) {
    const { outputText } = ts.transpileModule(readFileSync(path.join(ROOT, rel), 'utf8'), {
      fileName: rel,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
      },
    });
    const out = path.join(OUT, rel.replace(/\.ts$/, '.js'));
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  process.once('exit', () => rmSync(OUT, { recursive: true, force: true }));
  return (built = path.join(OUT, 'cli', 'main.js'));
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a child: ours, without anything that would hand it a Redis URL or password by accident. */
function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.REDIS_URL;
  delete env.REDISCLI_AUTH;
  return { ...env, ...extra };
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [compiledMain(), ...args], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Run a command to its end. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A command that keeps running (watch, inspect): read its output as it comes, stop it with a signal. */
export class RunningCli {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;
  #waiters: Array<() => void> = [];

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.#child = spawnCli(args, env);
    const wake = (): void => {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    };
    this.#child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      wake();
    });
    this.#child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      wake();
    });
    this.exited = new Promise((resolve) => this.#child.once('close', (code) => (wake(), resolve(code))));
  }

  /** Lines of stdout so far. */
  get lines(): string[] {
    return this.stdout.split('\n').filter(Boolean);
  }

  /** Wait until `check` holds on the output; fails if the command ends first. */
  async until(check: (cli: RunningCli) => boolean, what: string): Promise<void> {
    while (!check(this)) {
      if (this.#child.exitCode !== null || this.#child.signalCode !== null)
        throw new Error(`the command ended before ${what}; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Ask it to stop (Ctrl-C) and resolve with its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
    return this.exited;
  }
}
