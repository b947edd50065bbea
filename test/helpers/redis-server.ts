/**
 * Private redis-server processes for tests: started on free loopback ports, in their own temp directories,
 * killed when the run ends. The binary is `REDIS_SERVER_BIN` or `redis-server` on PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const BIN = process.env.REDIS_SERVER_BIN || 'redis-server';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections and answers PING (with +PONG or an auth error) on `port`. */
async function waitForPing(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.setTimeout(500);
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        s.destroy();
        resolve(/^(\+PONG|-NOAUTH|-LOADING)/.test(d.toString()) && !/^-LOADING/.test(d.toString()));
      });
      s.once('error', () => resolve(false));
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`redis-server on port ${port} did not answer within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ServerOptions {
  /** Extra redis-server arguments, e.g. ['--requirepass', 'secret']. */
  args?: string[];
  port?: number;
  /** Contents of a config file to start with (written into the server's directory), e.g. for a sentinel. */
  config?: string;
  /** Start as a sentinel (needs `config`). */
  sentinel?: boolean;
}

const running = new Set<RedisServer>();

export class RedisServer {
  child: ChildProcess | undefined;
  readonly dir: string;
  private constructor(
    readonly port: number,
    readonly args: string[],
    private readonly options: ServerOptions,
  ) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'mpr-test-'));
    if (options.config !== undefined) writeFileSync(path.join(this.dir, 'redis.conf'), options.config);
  }

  static async start(options: ServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(options.port ?? (await freePort()), options.args ?? [], options);
    await server.spawn();
    running.add(server);
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private async spawn(): Promise<void> {
    const head =
      this.options.config !== undefined
        ? [path.join(this.dir, 'redis.conf'), ...(this.options.sentinel ? ['--sentinel'] : [])]
        : [];
    const args = [
      ...head,
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
      ...this.args,
    ];
    const child = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    this.child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`redis-server exited early (code ${code}) with args ${args.join(' ')}`)),
      ),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForPing(this.port, 10000), exited]);
  }

  /** Send a signal (SIGKILL to crash it, SIGSTOP to hang it, SIGCONT to resume it). */
  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  /** Start again on the same port (empty: nothing is persisted). */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  async stop(): Promise<void> {
    await this.kill();
    running.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Named set-ups, started once on first use and reused by every test file. */
const setups: Record<string, Promise<RedisServer> | undefined> = {};
export const PASSWORD = 'p@ss/w#rd:s3cret';
export function server(name: 'plain' | 'password'): Promise<RedisServer> {
  return (setups[name] ??= RedisServer.start(name === 'password' ? { args: ['--requirepass', PASSWORD] } : {}));
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

process.on('exit', () => {
  for (const s of running) s.child?.kill('SIGKILL');
});
