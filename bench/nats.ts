/**
 * The NATS JetStream KV peer of the collections benchmarks: a private `nats-server -js` on a free port (when the
 * binary is on PATH), a KV bucket filled with the same items, and the time `watch()` takes to deliver them all.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort } from '../test/helpers/redis-server';

export interface NatsServer {
  url: string;
  version: string;
  stop(): Promise<void>;
}

/** Start `nats-server -js` on a free loopback port, or say why not (undefined + reason). */
export async function startNats(): Promise<NatsServer | string> {
  const bin = process.env.NATS_SERVER_BIN || 'nats-server';
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0)
    return `nats-server is not on PATH (install it with \`apt-get install nats-server\`), so the NATS JetStream KV rows are missing`;
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-nats-'));
  const proc: ChildProcess = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], {
    stdio: 'ignore',
  });
  const until = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('data', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > until || proc.exitCode !== null) {
      proc.kill('SIGKILL');
      return 'nats-server did not start, so the NATS JetStream KV rows are missing';
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `127.0.0.1:${port}`,
    version: /v([\d.]+)/.exec(v.stdout)?.[1] ?? '?',
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fill a KV bucket with `n` items (64 puts in flight), then time a fresh `watch()` until it has them all. */
export async function natsSnapshot(
  server: NatsServer,
  n: number,
  item: (i: number) => Record<string, unknown>,
): Promise<{ ms: number; count: number }> {
  const { connect } = await import('@nats-io/transport-node');
  const { Kvm } = await import('@nats-io/kv');
  const nc = await connect({ servers: server.url });
  try {
    const kvm = new Kvm(nc);
    const bucket = `snap${n}`;
    const kv = await kvm.create(bucket, { history: 1 });
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < n) {
          const i = next++;
          await kv.put(`item.${i}`, JSON.stringify(item(i)));
        }
      }),
    );
    const copy = new Map<string, unknown>();
    const t0 = performance.now();
    const watch = await kv.watch();
    for await (const e of watch) {
      copy.set(e.key, e.json());
      if (e.delta === 0 || copy.size >= n) break;
    }
    const ms = performance.now() - t0;
    watch.stop();
    await kvm.open(bucket).then((b) => b.destroy());
    return { ms, count: copy.size };
  } finally {
    await nc.close();
  }
}
