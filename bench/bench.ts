/**
 * `npm run bench` (add `-- --quick` for a one-minute run): side-by-side benchmarks against one private
 * redis-server. Contenders alternate (A B C … C B A) and the best round counts, so drift on a shared machine
 * does not decide a result. Writes BENCHMARKS.md and bench/results.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import IORedis from 'ioredis';
import { createClient } from 'redis';
import Pack from '../index';
import type { ClientOptions, Connection } from '../index';
import type { RedisClient } from '../lib/connection';
import { cluster } from '../test/helpers/topologies';
import { RedisServer } from '../test/helpers/redis-server';
import { BareResp } from './bare-resp';
import { fleetBench } from './fleet';
import { natsSnapshot, startNats } from './nats';
import { barChart, type ChartGroup } from './svg';

const quick = process.argv.includes('--quick');
/** `--only=1,3` runs just those sections (and writes no BENCHMARKS.md). */
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',')
  .map(Number);
const section = (n: number) => !only || only.includes(n);
/** `--contenders=tuned,promises` keeps only contenders whose name contains one of these words (for quick A/B). */
const contenderFilter = process.argv
  .find((a) => a.startsWith('--contenders='))
  ?.slice(13)
  .split(',');
/** `--writes-only` (with `--only=4`): only section 4's write-cost table, not its fan-out runs. */
const writesOnly = process.argv.includes('--writes-only');
/** `--rounds=N` overrides the number of alternating rounds. */
const roundsArg = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice(9));
const ROUND_MS = quick ? 300 : 500;
// Short rounds, many alternations: at concurrency 1 a loopback round trip on a shared VM jitters a lot, and
// interleaving finely is what keeps that jitter from favouring one contender.
const ROUNDS = roundsArg > 0 ? roundsArg : quick ? 2 : 8; // A B C … C B A, four times in a full run
const FANOUT_SECONDS = quick ? 2 : 10;
const COLLECTION_SIZES = process.argv.includes('--1m') ? [1000, 10000, 100000, 1000000] : [1000, 10000, 100000];
const CONCURRENCIES = [1, 64, 512];

// Contender names (also the keys of results.json).
const NR_DEFAULT = 'node-redis 6 (defaults)';
const NR_TUNED = 'node-redis 6 (tuned: timeout 0)';
const IOREDIS = 'ioredis (enableAutoPipelining)';
const BARE = 'bare RESP, one socket (limit)';
const PROMISES = 'Pack.promises';
const RUNNER = 'Pack (runner, await)';
const ORIGINAL = 'machinepack-redis 2.0.7';

type Op = () => Promise<unknown>;
interface Contender {
  name: string;
  op: (key: string) => Op;
}
/** One contender's figures in a comparison: best ops/s over the rounds, CPU µs per op in its best round. */
interface Figure {
  ops: number;
  cpu: number;
}

const results: Record<string, unknown> = {};
const lines: string[] = [];
const targets: Array<{ target: string; value: string; met: boolean }> = [];
const charts: Record<string, string> = {};
const log = (s = '') => {
  console.log(s);
  lines.push(s);
};

/** Operations per second of `op` with `concurrency` callers for `ms`, and the process CPU (µs) per operation. */
async function measure(makeOp: (worker: number) => Op, concurrency: number, ms: number): Promise<Figure> {
  let count = 0;
  const deadline = performance.now() + ms;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const op = makeOp(w);
      while (performance.now() < deadline) {
        await op();
        count++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { ops: count / ((performance.now() - start) / 1000), cpu: (cpu.user + cpu.system) / Math.max(1, count) };
}

/** Best ops/s of each contender over alternating rounds (A B C … C B A), with CPU per op of that best round. */
async function compare(contenders: Contender[], concurrency: number, ms: number): Promise<Record<string, Figure>> {
  const best: Record<string, Figure> = {};
  if (contenderFilter)
    contenders = contenders.filter((c) => contenderFilter.some((w) => c.name.toLowerCase().includes(w)));
  const order = [...contenders, ...[...contenders].reverse()];
  for (let r = 0; r < ROUNDS / 2; r++) {
    for (const c of order) {
      const f = await measure((w) => c.op(`bench:${c.name}:${concurrency}:${w}`), concurrency, ms);
      if (!best[c.name] || f.ops > best[c.name]!.ops) best[c.name] = f;
    }
  }
  return best;
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main(): Promise<void> {
  const server = await RedisServer.start();
  const url = server.url;
  log(`# Benchmarks`);
  log();
  log(
    `Run: ${new Date().toISOString()} · ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length} · ${Math.round(os.totalmem() / 2 ** 30)} GiB · Node ${process.version} · redis-server ${serverVersion()} · NODE_ENV=${process.env.NODE_ENV}${quick ? ' · --quick' : ''}`,
  );
  log();
  log(
    'Reproduce: `npm run bench` (about 5 minutes) or `npm run bench -- --quick` (about 1 minute). Each figure is the best of alternating rounds (A B C … C B A) in one run; compare ratios, not absolute numbers, across machines.',
  );
  log();

  // Contenders' connections.
  const { manager } = await Pack.promises.createManager({ connectionString: url });
  const conn = (await Pack.promises.getConnection({ manager })).connection;
  const conn2 = (await Pack.promises.getConnection({ manager })).connection;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Original = require('machinepack-redis');
  const origManager = (await Original.createManager({ connectionString: url })).manager;
  const origConn = (await Original.getConnection({ manager: origManager })).connection;
  // node-redis 6 as installed (its per-command 5 s write timer armed on every command)…
  const nodeRedis = createClient({ url });
  await nodeRedis.connect();
  // …and as a user who reads its docs would tune it: `commandOptions: { timeout: 0 }` turns that timer off
  // (commands-queue.js arms `AbortSignal.timeout` only `if (timeout)`).
  const nodeRedisTuned = createClient({ url, commandOptions: { timeout: 0 } });
  await nodeRedisTuned.connect();
  const ioredis = new IORedis(url, { enableAutoPipelining: true });
  const bare = await BareResp.connect(url);

  const cacheContenders = (value: unknown): Contender[] => [
    {
      name: NR_DEFAULT,
      op: (key) => async () => {
        await nodeRedis.set(key, JSON.stringify(value));
        JSON.parse((await nodeRedis.get(key)) as string);
      },
    },
    {
      name: NR_TUNED,
      op: (key) => async () => {
        await nodeRedisTuned.set(key, JSON.stringify(value));
        JSON.parse((await nodeRedisTuned.get(key)) as string);
      },
    },
    {
      name: IOREDIS,
      op: (key) => async () => {
        await ioredis.set(key, JSON.stringify(value));
        JSON.parse((await ioredis.get(key)) as string);
      },
    },
    {
      name: BARE,
      op: (key) => async () => {
        await bare.send(['SET', key, JSON.stringify(value)]);
        JSON.parse((await bare.send(['GET', key])) as string);
      },
    },
    {
      name: PROMISES,
      op: (key) => async () => {
        await Pack.promises.cacheValue({ connection: conn, key, value });
        await Pack.promises.getCachedValue({ connection: conn, key });
      },
    },
    {
      name: RUNNER,
      op: (key) => async () => {
        await Pack.cacheValue({ connection: conn2 as Connection, key, value });
        await Pack.getCachedValue({ connection: conn2 as Connection, key });
      },
    },
    {
      name: ORIGINAL,
      op: (key) => async () => {
        await Original.cacheValue({ connection: origConn, key, value });
        await Original.getCachedValue({ connection: origConn, key });
      },
    },
  ];

  const small = { id: 42, name: 'Ada Lovelace', tags: ['math', 'engines'], active: true };
  // 1. Cache round trip, small object.
  if (section(1)) {
    log('## 1. Cache round trip (cacheValue + getCachedValue of a small object)');
    log();
    log(
      `Ratios are to **${NR_TUNED}** (node-redis 6.3 with \`commandOptions: { timeout: 0 }\`, its per-command timer off), measured in the same run; "× defaults" is to node-redis 6.3 as installed. CPU is the whole process's user + system time per operation (\`process.cpuUsage\`).`,
    );
    log();
    log('![Cache round trip, ratio to tuned node-redis](bench/charts/1-cache.svg)');
    log();
    const byConc: Record<number, Record<string, Figure>> = {};
    for (const c of CONCURRENCIES) byConc[c] = await compare(cacheContenders(small), c, ROUND_MS);
    for (const c of CONCURRENCIES) {
      const r = byConc[c]!;
      const tuned = r[NR_TUNED]?.ops ?? NaN;
      const defaults = r[NR_DEFAULT]?.ops ?? NaN;
      log(`Concurrency ${c}:`);
      log();
      log('| contender | ops/s | × tuned node-redis | × node-redis defaults | CPU µs/op |');
      log('|---|---:|---:|---:|---:|');
      for (const name of Object.keys(r))
        log(
          `| ${name} | ${fmt(r[name]!.ops)} | ${(r[name]!.ops / tuned).toFixed(2)} | ${(r[name]!.ops / defaults).toFixed(2)} | ${r[name]!.cpu.toFixed(1)} |`,
        );
      log();
    }
    charts['1-cache'] = barChart({
      title: 'Cache round trip (SET + GET of a small object): ratio to tuned node-redis',
      subtitle: 'ops/s ÷ node-redis 6.3 with commandOptions.timeout 0, same run; dashed line = 1.0',
      groups: CONCURRENCIES.map((c) => ({
        label: `concurrency ${c}`,
        bars: Object.keys(byConc[c]!).map((n) => ({
          name: n,
          value: byConc[c]![n]!.ops / (byConc[c]![NR_TUNED]?.ops ?? NaN),
        })),
      })),
      reference: 1,
      highlight: [PROMISES],
    });
    results.cacheSmall = byConc;
    if (!contenderFilter) {
      for (const c of CONCURRENCIES) {
        const r = byConc[c]!;
        const ratio = r[PROMISES]!.ops / r[NR_TUNED]!.ops;
        targets.push({
          target: `Pack.promises ≥ 1.0 × tuned node-redis, concurrency ${c}`,
          value: ratio.toFixed(2),
          met: ratio >= 1,
        });
      }
      const top = byConc[CONCURRENCIES[CONCURRENCIES.length - 1]!]!;
      targets.push(
        {
          target: `Pack.promises ≥ 0.8 × the bare-socket limit, concurrency ${CONCURRENCIES[CONCURRENCIES.length - 1]}`,
          value: (top[PROMISES]!.ops / top[BARE]!.ops).toFixed(2),
          met: top[PROMISES]!.ops >= 0.8 * top[BARE]!.ops,
        },
        {
          target: 'runner ≥ 3 × machinepack-redis 2.0.7, concurrency 64',
          value: (byConc[64]![RUNNER]!.ops / byConc[64]![ORIGINAL]!.ops).toFixed(2),
          met: byConc[64]![RUNNER]!.ops >= 3 * byConc[64]![ORIGINAL]!.ops,
        },
      );

      // The runner without NODE_ENV=production, once, in a child process (the runner reads NODE_ENV when loaded).
      const dev = spawnSync(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'runner-dev.ts'), url, String(ROUND_MS)],
        { env: { ...process.env, NODE_ENV: 'development' }, encoding: 'utf8' },
      );
      const devOps = Number(dev.stdout.trim());
      if (devOps > 0) {
        log(
          `Without NODE_ENV=production the runner face does ${fmt(devOps)} round trips/s at concurrency 1 (${(devOps / byConc[1]![RUNNER]!.ops).toFixed(2)} × its production figure): set NODE_ENV=production.`,
        );
        log();
        results.runnerWithoutProduction = devOps;
      }
    }
  }

  // 2. Value sizes.
  if (section(2)) {
    log('## 2. Cache round trip by value size (ops/s; ratio to tuned node-redis in brackets)');
    log();
    log('![Cache round trip by value size, ratio to tuned node-redis](bench/charts/2-sizes.svg)');
    log();
    const sizes: Array<[string, unknown, number[]]> = [
      ['100 B', { s: 'x'.repeat(90) }, [1, 64]],
      ['10 KB', { s: 'x'.repeat(10 * 1024) }, [1, 64]],
      ['1 MB', { s: 'x'.repeat(1024 * 1024) }, [1, 8]],
    ];
    const names = cacheContenders(0).map((c) => c.name);
    log('| size | concurrency | ' + names.join(' | ') + ' |');
    log('|---|---:|' + names.map(() => '---:').join('|') + '|');
    results.sizes = {};
    const groups: ChartGroup[] = [];
    for (const [label, value, concs] of sizes) {
      for (const conc of concs) {
        const r = await compare(cacheContenders(value), conc, ROUND_MS);
        const b = r[NR_TUNED]!.ops;
        (results.sizes as Record<string, unknown>)[`${label} c${conc}`] = r;
        log(
          `| ${label} | ${conc} | ` +
            Object.keys(r)
              .map((n) => `${fmt(r[n]!.ops)} (${(r[n]!.ops / b).toFixed(2)})`)
              .join(' | ') +
            ' |',
        );
        groups.push({
          label: `${label}, concurrency ${conc}`,
          bars: Object.keys(r).map((n) => ({ name: n, value: r[n]!.ops / b })),
        });
      }
    }
    log();
    charts['2-sizes'] = barChart({
      title: 'Cache round trip by value size: ratio to tuned node-redis',
      groups,
      reference: 1,
      highlight: [PROMISES],
    });
    await nodeRedis.flushAll();
  }

  // 3. Read-heavy cache: 90 % reads of 1,000 hot keys, 10 % writes.
  if (section(3)) {
    log('## 3. Read-heavy cache: 90 % reads of 1,000 hot keys, 10 % writes (small objects)');
    log();
    log(
      `Each op is one read (90 %) or one write (10 %) of a key drawn from 1,000, each contender with its own connection(s); ratios to **${NR_TUNED}**. node-redis's own client-side cache is \`clientSideCache: {}\` on RESP3 (its default: no TTL, no size bound); \`meta.nearCache\` is this pack's near-cache (README "Near-cache").`,
    );
    log();
    log('![Read-heavy workload, ratio to tuned node-redis](bench/charts/3-read-heavy.svg)');
    log();
    const HOT = 1000;
    const hot = Array.from({ length: HOT }, (_, i) => `hot:${i}`);
    const csc = createClient({ url, RESP: 3, clientSideCache: {}, commandOptions: { timeout: 0 } });
    await csc.connect();
    const nearManager = (
      await Pack.promises.createManager({ connectionString: url, meta: { nearCache: { maxEntries: 10000 } } })
    ).manager;
    const nearConn = (await Pack.promises.getConnection({ manager: nearManager })).connection;
    for (const p of ['tuned', 'csc', 'promises', 'near'])
      await Promise.all(hot.map((k) => nodeRedisTuned.set(`${p}:${k}`, JSON.stringify(small))));
    // Deterministic per worker: the same sequence of keys and writes for every contender. xorshift32 in 32-bit
    // integer arithmetic: an earlier LCG multiplied past 2^53 in floating point, lost its low bits, and drew only
    // about 230 distinct keys out of the 1,000 (160 per worker), so writes and reads of one key collided far more
    // often than with 1,000 hot keys.
    const mix = (seed: number) => {
      let x = (Math.imul(seed, 0x9e3779b1) ^ 0x5bd1e995) | 1;
      return () => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return x >>> 0;
      };
    };
    // Each contender has its own 1,000 keys (so one contender's writes do not empty another's cache between
    // rounds), written once before the first round.
    const rh = (
      prefix: string,
      read: (k: string) => Promise<unknown>,
      write: (k: string) => Promise<unknown>,
    ): Contender['op'] => {
      const keys = hot.map((k) => `${prefix}:${k}`);
      return (name) => {
        const next = mix(Number(name.slice(name.lastIndexOf(':') + 1)) + 1);
        return () => {
          const r = next();
          const k = keys[r % HOT]!;
          return (r >>> 10) % 10 === 0 ? write(k) : read(k);
        };
      };
    };
    const contenders: Contender[] = [
      {
        name: NR_TUNED,
        op: rh(
          'tuned',
          async (k) => JSON.parse((await nodeRedisTuned.get(k)) as string),
          (k) => nodeRedisTuned.set(k, JSON.stringify(small)),
        ),
      },
      {
        name: 'node-redis 6 clientSideCache (RESP3)',
        op: rh(
          'csc',
          async (k) => JSON.parse((await csc.get(k)) as string),
          (k) => csc.set(k, JSON.stringify(small)),
        ),
      },
      {
        name: PROMISES,
        op: rh(
          'promises',
          (k) => Pack.promises.getCachedValue({ connection: conn, key: k }),
          (k) => Pack.promises.cacheValue({ connection: conn, key: k, value: small }),
        ),
      },
      {
        name: 'Pack.promises + meta.nearCache',
        op: rh(
          'near',
          (k) => Pack.promises.getCachedValue({ connection: nearConn, key: k }),
          (k) => Pack.promises.cacheValue({ connection: nearConn, key: k, value: small }),
        ),
      },
    ];
    const byConc: Record<number, Record<string, Figure>> = {};
    for (const c of [1, 64]) byConc[c] = await compare(contenders, c, ROUND_MS);
    log('| contender | ops/s, C=1 | × tuned | CPU µs/op | ops/s, C=64 | × tuned | CPU µs/op |');
    log('|---|---:|---:|---:|---:|---:|---:|');
    for (const name of Object.keys(byConc[1]!)) {
      const a = byConc[1]![name]!;
      const b = byConc[64]![name]!;
      log(
        `| ${name} | ${fmt(a.ops)} | ${(a.ops / (byConc[1]![NR_TUNED]?.ops ?? NaN)).toFixed(2)} | ${a.cpu.toFixed(1)} | ${fmt(b.ops)} | ${(b.ops / (byConc[64]![NR_TUNED]?.ops ?? NaN)).toFixed(2)} | ${b.cpu.toFixed(1)} |`,
      );
    }
    log();
    results.readHeavy = byConc;
    charts['3-read-heavy'] = barChart({
      title: 'Read-heavy cache (90 % reads, 1,000 hot keys): ratio to tuned node-redis',
      groups: [1, 64].map((c) => ({
        label: `concurrency ${c}`,
        bars: Object.keys(byConc[c]!).map((n) => ({
          name: n,
          value: byConc[c]![n]!.ops / (byConc[c]![NR_TUNED]?.ops ?? NaN),
        })),
      })),
      reference: 1,
      highlight: ['Pack.promises + meta.nearCache'],
    });
    if (!contenderFilter)
      for (const c of [1, 64]) {
        const ratio = byConc[c]!['Pack.promises + meta.nearCache']!.ops / byConc[c]![NR_TUNED]!.ops;
        targets.push({
          target: `read-heavy: Pack.promises + meta.nearCache ≥ 3 × tuned node-redis, concurrency ${c}`,
          value: ratio.toFixed(2),
          met: ratio >= 3,
        });
      }
    csc.destroy();
    await Pack.promises.destroyManager({ manager: nearManager });
    for (const p of ['tuned', 'csc', 'promises', 'near']) await nodeRedisTuned.del(hot.map((k) => `${p}:${k}`));
  }

  // 4. Replicated collections fan-out.
  if (section(4)) {
    log(`## 4. Replicated collections: what a write costs, and fan-out to 10 subscriber clients`);
    log();
    await writeCosts(conn);
  }
  if (section(4) && !writesOnly) {
    log('![Collections fan-out, ratio to raw pub/sub](bench/charts/4-fanout.svg)');
    log();
    const fan = await fanout(url, FANOUT_SECONDS);
    results.fanout = fan;
    log(
      `Latency from a write on one client to the event on each of 10 subscriber clients, at a steady 1,000 updates/s for ${FANOUT_SECONDS} s (every subscriber in this one process, so their handling adds up):`,
    );
    log();
    log('| path | p50 ms | p99 ms | max ms | deliveries |');
    log('|---|---:|---:|---:|---:|');
    for (const r of [fan.raw, fan.collections])
      log(
        `| ${r.name} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(2)} | ${r.count.toLocaleString('en-US')} |`,
      );
    log();
    log('Highest sustained update rate with 10 subscribers (updates/s that every subscriber received in full):');
    log();
    log(`| path | updates/s |`);
    log('|---|---:|');
    log(`| ${fan.rawRate.name} | ${fmt(fan.rawRate.rate)} |`);
    log(`| ${fan.colRate.name} | ${fmt(fan.colRate.rate)} |`);
    log();
    targets.push(
      {
        target: 'set → event p99 ≤ 1.5 × raw pub/sub p99 (1,000/s, 10 subscribers)',
        value: `${(fan.collections.p99 / fan.raw.p99).toFixed(2)} × (${fan.collections.p99.toFixed(2)} vs ${fan.raw.p99.toFixed(2)} ms)`,
        met: fan.collections.p99 <= 1.5 * fan.raw.p99,
      },
      {
        target: 'sustained update rate ≥ 0.7 × raw PUBLISH (10 subscribers)',
        value: (fan.colRate.rate / fan.rawRate.rate).toFixed(2),
        met: fan.colRate.rate >= 0.7 * fan.rawRate.rate,
      },
    );
    charts['4-fanout'] = barChart({
      title: 'Collections with 10 subscribers: ratio to raw node-redis pub/sub',
      subtitle: 'sustained rate (higher is better) and set → event p99 (lower is better); dashed line = raw',
      groups: [
        {
          label: 'sustained updates/s ÷ raw PUBLISH',
          bars: [{ name: 'collection.set', value: fan.colRate.rate / fan.rawRate.rate }],
        },
        {
          label: 'p99 latency ÷ raw p99 (1,000/s)',
          bars: [{ name: 'collection.set → event', value: fan.collections.p99 / fan.raw.p99 }],
        },
      ],
      reference: 1,
    });
  }

  // 5. Snapshot time and memory per item, next to the one-JSON-per-item floor and NATS JetStream KV.
  if (section(5)) {
    log('## 5. Subscribing to a collection: snapshot time and memory per item held (10 fields per item)');
    log();
    log(
      'Next to it, in the same run: the floor of any layout that keeps one JSON string per item in Redis (MGET in windows of 2,000 + `JSON.parse` per item, into a Map), and NATS JetStream KV `watch()` delivering the same items from a private `nats-server -js`.',
    );
    log();
    log('![Snapshot time](bench/charts/5-snapshot.svg)');
    log();
    const nats = await startNats();
    if (typeof nats === 'string') {
      log(`Note: ${nats}.`);
      log();
    }
    log('| items | subscribe (load the copy) | heap per item | one JSON per item (MGET floor) | NATS KV watch() |');
    log('|---:|---:|---:|---:|---:|');
    results.snapshot = {};
    const groups: ChartGroup[] = [];
    for (const n of COLLECTION_SIZES) {
      // Best of SNAPSHOT_ROUNDS alternated loads of each (this machine's load swings single runs by 2×).
      const loads = await snapshot(url, conn, n);
      const floors = await mgetFloor(nodeRedisTuned as unknown as RedisClient, n);
      let best = Infinity;
      let floor = Infinity;
      let heap = 0;
      for (let round = 0; round < SNAPSHOT_ROUNDS; round++) {
        const one = await loads.load(round === 0);
        if (round === 0) heap = one.bytesPerItem;
        best = Math.min(best, one.ms);
        floor = Math.min(floor, await floors.time());
      }
      await loads.done();
      await floors.done();
      const r = { ms: best, bytesPerItem: heap };
      const kv = typeof nats === 'string' ? undefined : await natsSnapshot(nats, n, snapItem);
      (results.snapshot as Record<string, unknown>)[n] = { ...r, floorMs: floor, natsMs: kv?.ms };
      log(
        `| ${n.toLocaleString('en-US')} | ${r.ms.toFixed(0)} ms | ${(r.bytesPerItem / 1024).toFixed(2)} KB | ${floor.toFixed(0)} ms | ${kv ? `${kv.ms.toFixed(0)} ms` : '–'} |`,
      );
      groups.push({
        label: `${n.toLocaleString('en-US')} items (ms)`,
        bars: [
          { name: 'collection.subscribe()', value: r.ms },
          { name: 'one JSON per item (MGET floor)', value: floor },
          ...(kv ? [{ name: 'NATS JetStream KV watch()', value: kv.ms }] : []),
        ],
      });
      if (n === 100000) {
        targets.push(
          {
            target: 'snapshot of 100k items ≤ 1.5 × the one-JSON-per-item floor',
            value: `${(r.ms / floor).toFixed(2)} × (${r.ms.toFixed(0)} vs ${floor.toFixed(0)} ms)`,
            met: r.ms <= 1.5 * floor,
          },
          {
            target: 'snapshot of 100k items faster than NATS KV watch()',
            value: kv ? `${r.ms.toFixed(0)} vs ${kv.ms.toFixed(0)} ms` : 'no nats-server',
            met: kv !== undefined && r.ms < kv.ms,
          },
          {
            target: 'at most 0.45 KB of heap per 10-field item',
            value: `${(r.bytesPerItem / 1024).toFixed(2)} KB`,
            met: r.bytesPerItem <= 0.45 * 1024,
          },
        );
      }
      if (n === 1000000)
        targets.push({ target: '1M items under 10 s', value: `${(r.ms / 1000).toFixed(1)} s`, met: r.ms < 10000 });
    }
    log();
    charts['5-snapshot'] = barChart({
      title: 'Loading a collection copy (ms, shorter is better)',
      subtitle: typeof nats === 'string' ? nats : `NATS ${nats.version}, JetStream file store, same machine`,
      groups,
      unit: ' ms',
      digits: 0,
    });
    if (typeof nats !== 'string') await nats.stop();
  }

  // 6. A 3-master Redis Cluster next to the single server.
  if (section(6)) {
    log('## 6. A 3-master Redis Cluster next to the single server');
    log();
    log('![Single server and cluster](bench/charts/6-cluster.svg)');
    log();
    const c = await cluster();
    const { manager: cm } = await Pack.promises.createManager({ connectionString: c.seedUrl, meta: { cluster: true } });
    const cconn = (await Pack.promises.getConnection({ manager: cm })).connection;
    const onCluster: Contender[] = [
      {
        name: 'single server',
        op: (key) => async () => {
          await Pack.promises.cacheValue({ connection: conn, key, value: small });
          await Pack.promises.getCachedValue({ connection: conn, key });
        },
      },
      {
        name: 'cluster (3 masters)',
        op: (key) => async () => {
          await Pack.promises.cacheValue({ connection: cconn, key, value: small });
          await Pack.promises.getCachedValue({ connection: cconn, key });
        },
      },
    ];
    const k1 = await compare(onCluster, 1, ROUND_MS);
    const k64 = await compare(onCluster, 64, ROUND_MS);
    log('Cache round trip through `Pack.promises` (ops/s):');
    log();
    log('| where | concurrency 1 | concurrency 64 |');
    log('|---|---:|---:|');
    for (const n of Object.keys(k1)) log(`| ${n} | ${fmt(k1[n]!.ops)} | ${fmt(k64[n]!.ops)} |`);
    charts['6-cluster'] = barChart({
      title: 'Cache round trip through Pack.promises: single server and 3-master cluster (ops/s)',
      groups: [
        { label: 'concurrency 1', bars: Object.keys(k1).map((n) => ({ name: n, value: k1[n]!.ops })) },
        { label: 'concurrency 64', bars: Object.keys(k64).map((n) => ({ name: n, value: k64[n]!.ops })) },
      ],
      digits: 0,
    });
    log();
    const cfan = await fanout(c.seedUrl, FANOUT_SECONDS, { cluster: true });
    log(
      `Collection fan-out to 10 subscribers on the cluster (sharded pub/sub), 1,000 updates/s for ${FANOUT_SECONDS} s: p50 ${cfan.collections.p50.toFixed(2)} ms, p99 ${cfan.collections.p99.toFixed(2)} ms, max ${cfan.collections.max.toFixed(2)} ms; sustained ${fmt(cfan.colRate.rate)} updates/s (single server above: p99 ${results.fanout ? (results.fanout as { collections: Latency }).collections.p99.toFixed(2) : '–'} ms).`,
    );
    log();
    results.cluster = {
      cache: { concurrency1: k1, concurrency64: k64 },
      fanout: { collections: cfan.collections, rate: cfan.colRate.rate },
    };
    await Pack.promises.destroyManager({ manager: cm });
    for (const n of c.nodes) await n.stop();
  }

  // 7. A fleet of subscriber clients (bench/fleet.ts): recovery, cold start, fan-out and idle at tens to hundreds.
  if (section(7)) {
    log('## 7. A fleet of subscribers');
    log();
    log(
      'One collection of 10,000 items (10 fields each); N subscriber clients (each with its own connections, `Pack.createClient`) spread over 4 processes on this machine, which also runs Redis and the writer. Floors in the same run: raw node-redis 6 clients (tuned: timeout 0) reading one JSON string per item with MGET (cold start) and raw PUBLISH → message of the same JSON (fan-out). Cold start: 3 rounds alternating which goes first (floor then collections, collections then floor, …); the table gives the medians and the median of the ratios of the rounds, the ratio of each round in brackets. Reproduce alone: `node -r ts-node/register/transpile-only bench/fleet.ts` (only the fan-out: `--fanout=100 --repeat=3`; only cold starts, more rounds: `--cold=200,50 --rounds=6`).',
    );
    log();
    log('![Fleet](bench/charts/7-fleet.svg)');
    log();
    const f = await fleetBench(quick, (s) => console.log(s));
    log(
      '| clients | cold start | MGET floor | ratio (rounds) | restart from RDB (1 s down): copies equal after Redis is back | commands / KB per client | full resyncs | `error` events per client | pub/sub cut: copies equal | commands per client |',
    );
    log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of f.runs) {
      const e = r.restart.errorsPerClient;
      log(
        `| ${r.n} | ${(r.coldStart.collectionsMs / 1000).toFixed(2)} s | ${(r.coldStart.floorMs / 1000).toFixed(2)} s | ${r.coldStart.ratio.toFixed(2)}× (${r.coldStart.rounds.map((x) => (x.collectionsMs / x.floorMs).toFixed(2)).join(', ')}) | ${(r.restart.convergedMs / 1000).toFixed(2)} s | ${r.restart.commandsPerClient.toFixed(1)} / ${r.restart.kbPerClient.toFixed(1)} | ${r.restart.resyncs} | ${e.min === e.max ? e.min : `${e.min}–${e.max}`} | ${(r.pubsubCut.convergedMs / 1000).toFixed(2)} s | ${r.pubsubCut.commandsPerClient.toFixed(1)} |`,
      );
    }
    log();
    log('Fan-out, highest sustained rate until every subscriber has every update (updates/s):');
    log();
    log(
      '| subscribers | collection.set → `set` | raw PUBLISH → message | ratio | subscriber CPU per delivery: collections / raw | catch-ups |',
    );
    log('|---:|---:|---:|---:|---:|---:|');
    for (const x of f.fanout)
      log(
        `| ${x.n} | ${fmt(x.collectionRate)} | ${fmt(x.rawRate)} | ${(x.collectionRate / x.rawRate).toFixed(2)}× | ${x.collectionCpu.toFixed(1)} / ${x.rawCpu.toFixed(1)} µs | ${x.catchUps} |`,
      );
    log();
    log(
      `Idle, ${f.idle.n} clients following the collection for a while: ${fmt(f.idle.collectionsCommandsPerSecond)} commands/s reach Redis (${(f.idle.collectionsCommandsPerSecond / f.idle.n).toFixed(1)} per client per second: the periodic check is one MULTI round trip per client per \`syncInterval\`, 1 s by default); the clients' processes use ${f.idle.collectionsCpuPercent.toFixed(1)} % of a core (raw subscribers: ${f.idle.rawCpuPercent.toFixed(1)} %).`,
    );
    log();
    charts['7-fleet'] = barChart({
      title: 'Fleet: cold start next to the MGET floor (s, lower is better)',
      groups: f.runs.map((r) => ({
        label: `${r.n} clients`,
        bars: [
          { name: 'collections (subscribe)', value: r.coldStart.collectionsMs / 1000 },
          { name: 'MGET floor', value: r.coldStart.floorMs / 1000 },
        ],
      })),
      digits: 2,
    });
    const big = f.runs[f.runs.length - 1]!;
    targets.push(
      {
        target: `fleet: copies equal within 1.5 s of a restart (N=${big.n})`,
        value: `${(big.restart.convergedMs / 1000).toFixed(2)} s`,
        met: big.restart.convergedMs <= 1500,
      },
      {
        target: `fleet: cold start ≤ 1.5× the MGET floor (N=${big.n})`,
        value: `${big.coldStart.ratio.toFixed(2)}× (median of ${big.coldStart.rounds.length} alternated rounds: ${big.coldStart.rounds.map((x) => (x.collectionsMs / x.floorMs).toFixed(2)).join(', ')})`,
        met: big.coldStart.ratio <= 1.5,
      },
      {
        target: '≤ 3 `error` events per client per outage',
        value: `${Math.max(...f.runs.map((r) => r.restart.errorsPerClient.max))}`,
        met: Math.max(...f.runs.map((r) => r.restart.errorsPerClient.max)) <= 3,
      },
    );
    const f100 = f.fanout.find((x) => x.n === 100) ?? f.fanout[f.fanout.length - 1]!;
    targets.push({
      target: `fleet: fan-out ≥ 0.7× raw PUBLISH (N=${f100.n})`,
      value: `${(f100.collectionRate / f100.rawRate).toFixed(2)}×`,
      met: f100.collectionRate >= 0.7 * f100.rawRate,
    });
    results.fleet = f;
  }

  log('## Targets');
  log();
  log('| target | measured | met |');
  log('|---|---|---|');
  for (const t of targets) log(`| ${t.target} | ${t.value} | ${t.met ? 'yes' : '**no**'} |`);
  log();
  results.targets = targets;

  await Pack.promises.destroyManager({ manager });
  await new Promise((r) => Original.destroyManager({ manager: origManager }).exec(r));
  nodeRedis.destroy();
  nodeRedisTuned.destroy();
  ioredis.disconnect();
  bare.close();
  await server.stop();

  const out = path.resolve(__dirname, '..');
  const chartDir = path.join(__dirname, 'charts');
  mkdirSync(chartDir, { recursive: true });
  const writeCharts = !quick && !only ? true : process.argv.includes('--charts');
  if (writeCharts)
    for (const [name, svg] of Object.entries(charts)) writeFileSync(path.join(chartDir, `${name}.svg`), svg);
  if (!quick && !only) {
    writeFileSync(path.join(out, 'BENCHMARKS.md'), lines.join('\n') + '\n' + NOTES);
    writeFileSync(
      path.join(__dirname, 'results.json'),
      JSON.stringify(
        { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, results },
        null,
        2,
      ) + '\n',
    );
  } else {
    writeFileSync(
      path.join(__dirname, 'results-quick.json'),
      JSON.stringify({ date: new Date().toISOString(), results }, null, 2) + '\n',
    );
  }
}

/**
 * What a conditional write and a 10-item batch cost next to a plain set, through the machines' promise face on one
 * connection (no subscribers), alternated in one run. Each caller writes its own keys, so no condition fails.
 */
async function writeCosts(connection: Connection): Promise<void> {
  const at = { connection, database: 'bench', collection: 'writes' };
  const item = { name: 'item', n: 1, tags: ['a', 'b'], on: true };
  const contenders: Contender[] = [
    { name: 'set', op: (key) => () => Pack.promises.setItem({ ...at, key, data: item }) },
    {
      name: 'set with ifRevision',
      op: (key) => {
        let revision: number | undefined;
        return async () => {
          if (revision === undefined) revision = (await Pack.promises.setItem({ ...at, key, data: item })).revision;
          revision = (await Pack.promises.setItem({ ...at, key, data: item, ifRevision: revision })).revision;
        };
      },
    },
    {
      name: 'batch of 10 sets',
      op: (key) => {
        const operations = Array.from({ length: 10 }, (_, i) => ({
          op: 'set' as const,
          key: `${key}:${i}`,
          data: item,
        }));
        return () => Pack.promises.writeItems({ ...at, operations });
      },
    },
  ];
  const figures: Record<number, Record<string, Figure>> = {};
  for (const c of [1, 64]) figures[c] = await compare(contenders, c, ROUND_MS);
  results.collectionWrites = figures;
  log('What a write costs (no subscribers; `Pack.promises` machines on one connection; a 4-field item):');
  log();
  log('| write | C=1 writes/s | ratio to set | C=64 writes/s | ratio to set | items/s at C=64 | CPU µs/write (C=64) |');
  log('|---|---:|---:|---:|---:|---:|---:|');
  for (const { name } of contenders) {
    const a = figures[1]![name];
    const b = figures[64]![name];
    if (!a || !b) continue;
    const per = name.startsWith('batch') ? 10 : 1;
    log(
      `| ${name} | ${fmt(a.ops)} | ${(a.ops / figures[1]!.set!.ops).toFixed(2)} | ${fmt(b.ops)} | ${(b.ops / figures[64]!.set!.ops).toFixed(2)} | ${fmt(b.ops * per)} | ${b.cpu.toFixed(1)} |`,
    );
  }
  log();
  await connection.del((await connection.keys('memis:{bench/writes}:*')) as string[]);
}

function serverVersion(): string {
  const r = spawnSync(process.env.REDIS_SERVER_BIN || 'redis-server', ['--version'], { encoding: 'utf8' });
  return /v=([\d.]+)/.exec(r.stdout)?.[1] ?? '?';
}

interface Latency {
  name: string;
  p50: number;
  p99: number;
  max: number;
  count: number;
}

async function fanout(url: string, seconds: number, extra: ClientOptions = {}) {
  const SUBS = 10;
  // Raw node-redis PUBLISH → message (on a cluster, against the seed node: a baseline only).
  const rawPub = createClient({ url });
  await rawPub.connect();
  const rawSubs = await Promise.all(
    Array.from({ length: SUBS }, async () => {
      const c = createClient({ url });
      await c.connect();
      return c;
    }),
  );
  let rawSamples: number[] = [];
  let rawReceived = 0;
  for (const s of rawSubs) {
    await s.subscribe('bench:raw', (m) => {
      rawReceived++;
      rawSamples.push(performance.now() - (JSON.parse(m) as { t: number }).t);
    });
  }
  // Collections.
  const pubClient = Pack.createClient(url, extra);
  const pub = pubClient.database('bench').collection<{ t: number; i: number }>('fanout');
  const subClients = Array.from({ length: SUBS }, () => Pack.createClient(url, extra));
  let colSamples: number[] = [];
  let colReceived = 0;
  const subs = subClients.map((c) => c.database('bench').collection<{ t: number; i: number }>('fanout'));
  for (const s of subs) {
    s.on('set', (_k, d) => {
      colReceived++;
      colSamples.push(performance.now() - d.t);
    });
    await s.subscribe();
  }
  await pub.set('warm', { t: performance.now(), i: 0 });

  const steady = async (send: (i: number) => Promise<unknown>) => {
    const total = seconds * 1000;
    const start = performance.now();
    let i = 0;
    const pending: Array<Promise<unknown>> = [];
    while (i < total) {
      const due = Math.floor(performance.now() - start); // updates that should have been sent by now (1 per ms)
      while (i < Math.min(due, total)) pending.push(send(i++));
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
    await new Promise((r) => setTimeout(r, 300));
  };
  const summarize = (name: string, samples: number[]): Latency => {
    const sorted = [...samples].sort((a, b) => a - b);
    return {
      name,
      p50: pct(sorted, 50),
      p99: pct(sorted, 99),
      max: sorted[sorted.length - 1] ?? NaN,
      count: samples.length,
    };
  };

  rawSamples = [];
  await steady((i) => rawPub.publish('bench:raw', JSON.stringify({ t: performance.now(), i })));
  const raw = summarize('node-redis PUBLISH → message (raw)', rawSamples);
  colSamples = [];
  await steady((i) => pub.set(`k${i % 100}`, { t: performance.now(), i }));
  const collections = summarize('collection.set → `set` event', colSamples);

  // Sustained rate: send N updates as fast as possible (64 in flight), until every subscriber has all of them.
  const burst = async (n: number, send: (i: number) => Promise<unknown>, received: () => number) => {
    const startReceived = received();
    const start = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < n) await send(next++);
      }),
    );
    while (received() - startReceived < n * SUBS) await new Promise((r) => setTimeout(r, 1));
    return n / ((performance.now() - start) / 1000);
  };
  const N = quick ? 5000 : 30000;
  rawSamples = [];
  colSamples = [];
  const rawRate = {
    name: 'node-redis PUBLISH (raw)',
    rate: await burst(
      N,
      (i) => rawPub.publish('bench:raw', JSON.stringify({ t: performance.now(), i })),
      () => rawReceived,
    ),
  };
  const colRate = {
    name: 'collection.set (10 subscribers)',
    rate: await burst(
      N,
      (i) => pub.set(`k${i % 1000}`, { t: performance.now(), i: i + 1e9 }),
      () => colReceived,
    ),
  };
  rawSamples = [];
  colSamples = [];

  await Promise.all([pubClient.quit(), ...subClients.map((c) => c.quit())]);
  rawPub.destroy();
  for (const s of rawSubs) s.destroy();
  return { raw, collections, rawRate, colRate };
}

/** The 10-field item of the snapshot benchmarks (numbers, strings and small objects). */
function snapItem(i: number): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (let f = 0; f < 10; f++)
    data[`field${f}`] = f % 3 === 0 ? i * f : f % 3 === 1 ? `value-${i}-${f}` : { n: f, ok: true };
  return data;
}

/** Loads of each size timed (alternated with the floor); the best counts. */
const SNAPSHOT_ROUNDS = quick ? 1 : 3;

/** The floor of a one-JSON-string-per-item layout: write n items with SET; `time()` times MGET windows + JSON.parse. */
async function mgetFloor(
  client: RedisClient,
  n: number,
): Promise<{ time: () => Promise<number>; done: () => Promise<void> }> {
  const keys = Array.from({ length: n }, (_, i) => `floor:${n}:${i}`);
  for (let i = 0; i < n; i += 1000) {
    const batch: Array<Promise<unknown>> = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) batch.push(client.set(keys[j]!, JSON.stringify(snapItem(j))));
    await Promise.all(batch);
  }
  const time = async () => {
    global.gc?.();
    const copy = new Map<string, unknown>();
    const t0 = performance.now();
    const WINDOW = 2000;
    let pending = client.mGet(keys.slice(0, WINDOW));
    for (let i = 0; i < n; i += WINDOW) {
      const values = await pending;
      if (i + WINDOW < n) pending = client.mGet(keys.slice(i + WINDOW, i + 2 * WINDOW));
      for (let j = 0; j < values.length; j++) copy.set(keys[i + j]!, JSON.parse(values[j] as string));
    }
    const ms = performance.now() - t0;
    if (copy.size !== n) throw new Error(`floor: expected ${n} items, got ${copy.size}`);
    return ms;
  };
  const done = async () => {
    for (let i = 0; i < n; i += 10000) await client.unlink(keys.slice(i, i + 10000));
  };
  return { time, done };
}

async function snapshot(url: string, conn: Connection, n: number) {
  const name = `snap${n}`;
  // Populate with the setItem machine, 64 in flight.
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < n) {
        const i = next++;
        const data = snapItem(i);
        await Pack.promises.setItem({ connection: conn, database: 'bench', collection: name, key: `item:${i}`, data });
      }
    }),
  );
  const settledHeap = async () => {
    for (let i = 0; i < 3; i++) {
      global.gc?.();
      await new Promise((r) => setImmediate(r));
    }
    return process.memoryUsage().heapUsed;
  };
  /** One load by a new client (its own connections); the heap it holds is measured when asked (a forced GC). */
  const load = async (measureHeap: boolean) => {
    const client = Pack.createClient(url);
    const col = client.database('bench').collection(name);
    const heapBefore = measureHeap ? await settledHeap() : 0;
    global.gc?.();
    const t0 = performance.now();
    await col.subscribe();
    const ms = performance.now() - t0;
    const heapAfter = measureHeap ? await settledHeap() : 0;
    if (col.size !== n) throw new Error(`expected ${n} items, got ${col.size}`);
    await client.quit();
    return { ms, bytesPerItem: (heapAfter - heapBefore) / n };
  };
  const done = async () => {
    await conn.unlink([`memis:{bench/${name}}:keys`, `memis:{bench/${name}}:log`, `memis:{bench/${name}}:meta`]);
  };
  return { load, done };
}

const NOTES = `
## Notes

- Each cache "op" is one cacheValue + one getCachedValue (two Redis commands); every contender has its own
  connection, and concurrent callers share it (commands are pipelined).
- machinepack-redis 2.0.7 runs on node-redis 3; its figures include the machine runner's per-call cost (argument
  validation and cloning by rttc), as ours through the runner do. \`Pack.promises\` skips the runner.
- The fan-out test runs the publisher and all 10 subscribers in one Node process, so each update is handled 10
  times by one event loop: latency figures include that queueing, for both paths alike.
- Heap per item is measured after a forced GC (\`--expose-gc\`), with the copy's items, keys and expiry data.
- Loading a copy does not block Redis: the sequence number, epoch and member list are read in one MULTI, then
  the items in windows of 2,000, one MGET each (an item is one JSON string), three windows in flight, so Redis
  keeps answering other clients while our side decodes. Items stored as hashes by earlier versions (MGET has no
  string for them) are read again by a small script, only those. Before this layout a window was a script running
  HMGET per item: Redis spent ~4.5 µs per item on it (INFO commandstats), more than a whole MGET load.
- Connections made by this pack turn off node-redis 6's per-command write timeout (an AbortSignal timer on every
  command, which bounds only the time to be written); the reply watch (\`meta.commandTimeout\`) bounds what
  matters. Ratios are to node-redis 6.3 **tuned** the same way (\`commandOptions: { timeout: 0 }\`); "× defaults"
  columns are to node-redis as installed.
- The bare-RESP row (bench/bare-resp.ts) is the limit for one Node process on one connection: commands of a tick
  joined into one socket write (at most 64 per write), the smallest parser for SET/GET replies, a promise per
  command. Clients built on node-redis pay its write path (one socket.write per command under cork) on top.
- Section 3's node-redis clientSideCache is \`clientSideCache: {}\` on RESP3 (no TTL, no size bound); the
  near-cache has \`maxEntries: 10000\`. Each contender has its own 1,000 keys.
- This machine is a 2-core VM shared with other jobs (load average 15–25 during the runs of this session):
  figures move by 2× between runs of the same code; compare ratios within one run, and distrust single cells.
`;

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
