/**
 * Profile one contender of the cache round trip: `node --cpu-prof -r ts-node/register/transpile-only
 * bench/profile.ts <promises|tuned|floor|bare|runner|near|near-rh|tuned-rh> <concurrency> <seconds> [out.cpuprofile]`
 * (`floor`: node-redis's `sendCommand` awaited directly, the least any layer on node-redis can cost; `-rh`: the
 * read-heavy workload of bench section 3, 90 % reads of 1,000 hot keys), then
 * `node -r ts-node/register/transpile-only bench/top.ts <file>` for the top functions' shares (self time). With an output file the V8 profiler (the one
 * `--cpu-prof` drives) is started through the inspector just before the measured loop and stopped after it, so the
 * shares are those of the steady state, not of ts-node compiling at start-up.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import Pack from '../index';
import { nearCacheOf } from '../lib/near-cache';
import { RedisServer } from '../test/helpers/redis-server';
import { BareResp } from './bare-resp';

async function main(): Promise<void> {
  const [who = 'promises', concArg = '512', secArg = '5', out] = process.argv.slice(2);
  const concurrency = Number(concArg);
  const server = await RedisServer.start();
  const url = server.url;
  const value = { id: 42, name: 'Ada Lovelace', tags: ['math', 'engines'], active: true };
  const { manager } = await Pack.promises.createManager({
    connectionString: url,
    meta: who.startsWith('near') ? { nearCache: true } : {},
  });
  const { connection } = await Pack.promises.getConnection({ manager });
  const tuned = createClient({ url, commandOptions: { timeout: 0 } });
  await tuned.connect();
  const bare = await BareResp.connect(url);
  const ops: Record<string, (key: string) => Promise<unknown>> = {
    promises: async (key) => {
      await Pack.promises.cacheValue({ connection, key, value });
      await Pack.promises.getCachedValue({ connection, key });
    },
    runner: async (key) => {
      await Pack.cacheValue({ connection, key, value });
      await Pack.getCachedValue({ connection, key });
    },
    tuned: async (key) => {
      await tuned.set(key, JSON.stringify(value));
      JSON.parse((await tuned.get(key)) as string);
    },
    floor: async (key) => {
      await tuned.sendCommand(['SET', key, JSON.stringify(value)]);
      JSON.parse((await tuned.sendCommand(['GET', key])) as string);
    },
    bare: async (key) => {
      await bare.send(['SET', key, JSON.stringify(value)]);
      JSON.parse((await bare.send(['GET', key])) as string);
    },
  };
  const small = value;
  const HOT = 1000;
  const readHeavy = (
    read: (k: string) => Promise<unknown>,
    write: (k: string) => Promise<unknown>,
  ): ((key: string) => Promise<unknown>) => {
    const keys = Array.from({ length: HOT }, (_, i) => `hot:${i}`);
    const seeds = new Map<string, number>();
    return (key) => {
      // The same deterministic mix as bench section 3, one sequence per worker.
      let x =
        seeds.get(key) ?? (Math.imul(Number(key.slice(key.lastIndexOf(':') + 1)) + 1, 0x9e3779b1) ^ 0x5bd1e995) | 1;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      seeds.set(key, x);
      const r = x >>> 0;
      const k = keys[r % HOT]!;
      return (r >>> 10) % 10 === 0 ? write(k) : read(k);
    };
  };
  ops['near-rh'] = readHeavy(
    (key) => Pack.promises.getCachedValue({ connection, key }),
    (key) => Pack.promises.cacheValue({ connection, key, value: small }),
  );
  ops['tuned-rh'] = readHeavy(
    async (k) => JSON.parse((await tuned.get(k)) as string),
    (k) => tuned.set(k, JSON.stringify(small)),
  );
  if (who.endsWith('-rh')) for (let i = 0; i < HOT; i++) await tuned.set(`hot:${i}`, JSON.stringify(small));
  const op = ops[who]!;
  for (let i = 0; i < 2000; i++) await op('warm:0');
  const session = new Session();
  if (out) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  let n = 0;
  const deadline = performance.now() + Number(secArg) * 1000;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const key = `p:${w}`;
      while (performance.now() < deadline) {
        await op(key);
        n++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  if (out) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(out, JSON.stringify(profile));
    session.disconnect();
  }
  const secs = (performance.now() - start) / 1000;
  console.log(
    `${who} C=${concurrency}: ${Math.round(n / secs)} ops/s, ${((cpu.user + cpu.system) / n).toFixed(1)} µs CPU/op`,
  );
  const near = nearCacheOf(manager);
  if (near)
    console.log(`near-cache: ${near.store.hits} hits, ${near.store.misses} misses, ${near.store.flushes} flushes`);
  await Pack.promises.destroyManager({ manager });
  tuned.destroy();
  bare.close();
  await server.stop();
}
void main();
