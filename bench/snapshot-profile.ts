/**
 * Cold start alone: loading a copy of an n-item collection (10 fields per item) next to the one-JSON-per-item
 * floor (MGET in windows of 2,000 + `JSON.parse`), alternated, in one run on one private redis-server.
 * `node -r ts-node/register/transpile-only bench/snapshot-profile.ts [items] [rounds] [out.cpuprofile]` (with a
 * file, the V8 profiler records one more load; bench/top.ts shows the shares).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import Pack from '../index';
import { RedisServer } from '../test/helpers/redis-server';

function item(i: number): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (let f = 0; f < 10; f++)
    data[`field${f}`] = f % 3 === 0 ? i * f : f % 3 === 1 ? `value-${i}-${f}` : { n: f, ok: true };
  return data;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 100000);
  const rounds = Number(process.argv[3] ?? 3);
  const server = await RedisServer.start();
  const raw = createClient({ url: server.url, commandOptions: { timeout: 0 } });
  await raw.connect();
  const keys = Array.from({ length: n }, (_, i) => `floor:${i}`);
  for (let i = 0; i < n; i += 1000)
    await Promise.all(keys.slice(i, i + 1000).map((k, j) => raw.set(k, JSON.stringify(item(i + j)))));
  const writer = Pack.createClient(server.url);
  const c = writer.database('bench').collection('snap');
  for (let i = 0; i < n; i += 1000)
    await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, j) => c.set(`item:${i + j}`, item(i + j))));
  await writer.quit();

  const floor = async () => {
    const copy = new Map<string, unknown>();
    const t0 = performance.now();
    let pending = raw.mGet(keys.slice(0, 2000));
    for (let i = 0; i < n; i += 2000) {
      const values = await pending;
      if (i + 2000 < n) pending = raw.mGet(keys.slice(i + 2000, i + 4000));
      for (let j = 0; j < values.length; j++) copy.set(keys[i + j]!, JSON.parse(values[j] as string));
    }
    return performance.now() - t0;
  };
  const load = async () => {
    const client = Pack.createClient(server.url);
    const col = client.database('bench').collection('snap');
    const t0 = performance.now();
    await col.subscribe();
    const ms = performance.now() - t0;
    if (col.size !== n) throw new Error(`expected ${n} items, got ${col.size}`);
    await client.quit();
    return ms;
  };
  await load(); // warm up (connections, JIT)
  await floor();
  for (let r = 0; r < rounds; r++) {
    const f = await floor();
    const s = await load();
    console.log(`${n} items: subscribe ${s.toFixed(0)} ms, MGET floor ${f.toFixed(0)} ms, ratio ${(s / f).toFixed(2)}`);
  }
  const out = process.argv[4];
  if (out) {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    await load();
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(out, JSON.stringify(profile));
  }
  raw.destroy();
  await server.stop();
  process.exit(0);
}

void main();
