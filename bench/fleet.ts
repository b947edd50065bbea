/**
 * The fleet benchmark: many subscriber clients of one collection, spread over 4 processes, through a restart of
 * Redis from its RDB, a cut of every pub/sub connection, a cold start, fan-out and idle time. Run by
 * `npm run bench` (section 7) or alone: `node -r ts-node/register/transpile-only bench/fleet.ts [--quick]`.
 *
 * Each figure is measured on one machine that also runs Redis and the writer: compare the ratios to the floors
 * measured in the same run (raw node-redis clients doing the least work that gives the same result).
 *
 * Only the restart / pub/sub cut / cold start runs: `--runs` (N = 50 and 200) or `--runs=200`.
 * Only cold starts, alternated with the floor: `--cold=200,50 --rounds=4`, each with the CPU Redis (INFO cpu) and
 * the client processes spent and Redis's costliest commands; `--base=<checkout>` loads with that checkout's package
 * too (an older build, e.g. a `git worktree` of main with node_modules), in the same alternation.
 * Only the fan-out part: `--fanout` (N = 10, 100 and 500; with `--quick` 10 and 50), or `--fanout=100,500`;
 * `--updates=2000` sets the updates per measurement, `--repeat=3` measures each N that many times, alternating
 * raw and collections (each ratio is within one pair). With `FLEET_PROFILE=<dir>` each subscriber process writes a
 * CPU profile of the collections' fan-out (`<dir>/fanout-<n>-<process>.cpuprofile`; see bench/top.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import Pack from '../index';
import { RedisServer } from '../test/helpers/redis-server';

const PROCESSES = 4;
const ITEMS = 10000;
/** Alternated cold-start rounds per fleet size (see FleetResult.coldStart); odd, so the last round ends with the collections. */
const COLD_ROUNDS = 3;
const DATABASE = 'fleet';
const COLLECTION = 'items';
const META = `memis:{${DATABASE}/${COLLECTION}}:meta`;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The 10-field item (numbers, strings and small objects), as in the snapshot benchmark. */
export function fleetItem(i: number): Record<string, unknown> {
  return {
    id: i,
    name: `item ${i}`,
    owner: `user-${i % 97}`,
    score: i * 1.5,
    active: i % 2 === 0,
    tags: ['a', 'b', String(i % 10)],
    region: 'eu-west',
    version: 1,
    limits: { rps: 100, burst: 20 },
    note: 'x'.repeat(24),
  };
}

class Worker {
  readonly child: ChildProcess;
  #next = 0;
  readonly #waiting = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  constructor(lib?: string) {
    this.child = fork(path.join(__dirname, 'fleet-worker.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, NODE_ENV: 'production', ...(lib ? { FLEET_LIB: lib } : {}) },
    });
    this.child.on('message', (m: { id: number; error?: string } & Record<string, unknown>) => {
      const w = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      if (m.error) w?.reject(new Error(m.error));
      else w?.resolve(m);
    });
  }
  ask<T extends Record<string, unknown>>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: Record<string, unknown>) => void, reject });
      this.child.send({ id, cmd, ...args });
    });
  }
  kill(): void {
    this.child.kill();
  }
}

/** `n` clients spread over the workers. */
async function fleet(url: string, n: number, raw: boolean, lib?: string): Promise<Worker[]> {
  const workers = Array.from({ length: PROCESSES }, () => new Worker(lib));
  await Promise.all(
    workers.map((w, i) =>
      w.ask('open', {
        url,
        n: Math.floor(n / PROCESSES) + (i < n % PROCESSES ? 1 : 0),
        raw,
        database: DATABASE,
        collection: COLLECTION,
      }),
    ),
  );
  return workers;
}
async function close(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.ask('close').catch(() => undefined)));
  for (const w of workers) w.kill();
}
interface Counters {
  errors: number[];
  restored: number[];
  resyncs: number;
  catchUps: number;
  messages: number[];
  cpu: { user: number; system: number };
  heap: number;
}
async function counters(workers: Worker[]): Promise<Counters> {
  const all = await Promise.all(workers.map((w) => w.ask<Counters & Record<string, unknown>>('counters')));
  return {
    errors: all.flatMap((c) => c.errors),
    restored: all.flatMap((c) => c.restored),
    resyncs: all.reduce((s, c) => s + c.resyncs, 0),
    catchUps: all.reduce((s, c) => s + c.catchUps, 0),
    messages: all.flatMap((c) => c.messages),
    cpu: all.reduce((s, c) => ({ user: s.user + c.cpu.user, system: s.system + c.cpu.system }), {
      user: 0,
      system: 0,
    }),
    heap: all.reduce((s, c) => s + c.heap, 0),
  };
}
async function waitRevision(workers: Worker[], revision: number): Promise<number> {
  const r = await Promise.all(workers.map((w) => w.ask<{ at: number }>('waitRevision', { revision })));
  return Math.max(...r.map((x) => x.at));
}

/** Commands and bytes Redis has served (INFO stats). */
async function serverCounters(admin: {
  info(section: string): Promise<string>;
}): Promise<{ commands: number; bytes: number }> {
  const info = await admin.info('stats');
  const get = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { commands: get('total_commands_processed'), bytes: get('total_net_output_bytes') };
}

export interface FleetResult {
  n: number;
  /**
   * Medians of COLD_ROUNDS alternated rounds (floor, collections / collections, floor, …), `ratio` the median of
   * the rounds' ratios, `rounds` each round's pair: one cold start of a fleet on a shared 2-core machine swings
   * 1.1–2.6× with the load, and whichever goes first meets a different machine.
   */
  coldStart: {
    collectionsMs: number;
    floorMs: number;
    ratio: number;
    rounds: Array<{ collectionsMs: number; floorMs: number }>;
  };
  restart: {
    downMs: number;
    convergedMs: number;
    commandsPerClient: number;
    kbPerClient: number;
    resyncs: number;
    errorsPerClient: { min: number; max: number; mean: number };
    restoredPerClient: number;
  };
  pubsubCut: { convergedMs: number; commandsPerClient: number; resyncs: number };
}

/** Writes `count` updates (through the package) and returns the revision (stamp) of the last one. */
async function writeUpdates(url: string, count: number): Promise<number> {
  const writer = Pack.createClient(url);
  writer.on('error', () => undefined);
  const col = writer.database(DATABASE).collection(COLLECTION);
  for (let i = 0; i < count; i++) await col.set(`k${i}`, { ...fleetItem(i), version: Date.now() });
  await writer.quit();
  const admin = createClient({ url });
  await admin.connect();
  const seq = Number(await admin.hGet(META, 't')); // the last write's stamp: what stats().revision holds
  admin.destroy();
  return seq;
}

async function fill(url: string): Promise<void> {
  const writer = Pack.createClient(url);
  const col = writer.database(DATABASE).collection(COLLECTION);
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < ITEMS) {
        const i = next++;
        await col.set(`k${i}`, fleetItem(i));
      }
    }),
  );
  await writer.quit();
  // The floor's layout: one JSON string per item.
  const admin = createClient({ url });
  await admin.connect();
  for (let i = 0; i < ITEMS; i += 1000) {
    const m = admin.multi();
    for (let j = i; j < Math.min(ITEMS, i + 1000); j++) m.set(`floor:${j}`, JSON.stringify(fleetItem(j)));
    await m.execAsPipeline();
  }
  admin.destroy();
}

/** One fleet size: cold start next to the MGET floor, a restart from RDB, a pub/sub cut. */
export async function fleetRun(server: RedisServer, n: number, log: (s: string) => void): Promise<FleetResult> {
  const url = server.url;
  const admin = createClient({ url });
  admin.on('error', () => undefined);
  await admin.connect();

  // What the writer itself costs Redis (100 updates through a fresh client), subtracted below.
  const w0 = await serverCounters(admin);
  await writeUpdates(url, 100);
  const w1 = await serverCounters(admin);
  const writerCost = { commands: w1.commands - w0.commands, bytes: w1.bytes - w0.bytes };

  // Cold start: every client loads the collection at once; the floor: every raw client MGETs every item. Rounds
  // alternate which goes first; the last collections fleet stays up for the restart and the cut below.
  const rounds: Array<{ collectionsMs: number; floorMs: number }> = [];
  let workers: Worker[] = [];
  for (let round = 0; round < COLD_ROUNDS; round++) {
    let floorMs = 0;
    let collectionsMs = 0;
    for (const kind of round % 2 === 0 ? ['floor', 'collections'] : ['collections', 'floor']) {
      if (kind === 'floor') {
        const floorWorkers = await fleet(url, n, true);
        const floor = await Promise.all(
          floorWorkers.map((w) => w.ask<{ start: number; end: number }>('mget', { keys: ITEMS, prefix: 'floor:' })),
        );
        floorMs = Math.max(...floor.map((f) => f.end)) - Math.min(...floor.map((f) => f.start));
        await close(floorWorkers);
      } else {
        await close(workers);
        workers = await fleet(url, n, false);
        const sub = await Promise.all(workers.map((w) => w.ask<{ start: number; end: number }>('subscribe')));
        collectionsMs = Math.max(...sub.map((f) => f.end)) - Math.min(...sub.map((f) => f.start));
        // Not left running (their periodic checks) while a later floor is measured.
        if (round < COLD_ROUNDS - 1) {
          await close(workers);
          workers = [];
        }
      }
    }
    rounds.push({ collectionsMs, floorMs });
    log(
      `  N=${n} cold start, round ${round + 1}: collections ${(collectionsMs / 1000).toFixed(2)} s, MGET floor ${(floorMs / 1000).toFixed(2)} s (${(collectionsMs / floorMs).toFixed(2)}×)`,
    );
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const coldStart = {
    collectionsMs: median(rounds.map((r) => r.collectionsMs)),
    floorMs: median(rounds.map((r) => r.floorMs)),
    ratio: median(rounds.map((r) => r.collectionsMs / r.floorMs)),
    rounds,
  };

  // Restart from RDB: SAVE, SIGKILL, 1 s down, start again on the same port with the same directory.
  await admin.sendCommand(['SAVE']);
  const before = await counters(workers);
  await server.kill();
  const killedAt = now();
  await sleep(1000);
  await server.restart();
  const upAt = now();
  const serverBefore = await (async () => {
    const c = createClient({ url });
    await c.connect();
    const s = await serverCounters(c);
    c.destroy();
    return s;
  })();
  const seq = await writeUpdates(url, 100);
  const convergedAt = await waitRevision(workers, seq);
  await sleep(200);
  const admin2 = createClient({ url });
  admin2.on('error', () => undefined);
  await admin2.connect();
  const serverAfter = await serverCounters(admin2);
  const after = await counters(workers);
  const errs = after.errors.map((e, i) => e - (before.errors[i] ?? 0));
  const restart = {
    downMs: upAt - killedAt,
    convergedMs: convergedAt - upAt,
    commandsPerClient: (serverAfter.commands - serverBefore.commands - writerCost.commands) / n,
    kbPerClient: (serverAfter.bytes - serverBefore.bytes - writerCost.bytes) / n / 1024,
    resyncs: after.resyncs - before.resyncs,
    errorsPerClient: {
      min: Math.min(...errs),
      max: Math.max(...errs),
      mean: errs.reduce((s, e) => s + e, 0) / errs.length,
    },
    restoredPerClient: after.restored.reduce((s, e, i) => s + e - (before.restored[i] ?? 0), 0) / n,
  };
  log(
    `  N=${n} restart from RDB: copies equal ${(restart.convergedMs / 1000).toFixed(2)} s after Redis was back; ${restart.commandsPerClient.toFixed(1)} commands, ${restart.kbPerClient.toFixed(1)} KB per client; ${restart.resyncs} full resyncs; error events per client ${restart.errorsPerClient.min}–${restart.errorsPerClient.max}`,
  );

  // Every pub/sub connection cut, then 100 writes.
  const cutBefore = await counters(workers);
  const cutServerBefore = await serverCounters(admin2);
  await admin2.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
  const cutAt = now();
  const seq2 = await writeUpdates(url, 100);
  const cutConverged = await waitRevision(workers, seq2);
  const cutServerAfter = await serverCounters(admin2);
  const cutAfter = await counters(workers);
  const pubsubCut = {
    convergedMs: cutConverged - cutAt,
    commandsPerClient: (cutServerAfter.commands - cutServerBefore.commands - writerCost.commands) / n,
    resyncs: cutAfter.resyncs - cutBefore.resyncs,
  };
  log(
    `  N=${n} pub/sub cut: copies equal ${(pubsubCut.convergedMs / 1000).toFixed(2)} s after the cut; ${pubsubCut.commandsPerClient.toFixed(1)} commands per client; ${pubsubCut.resyncs} full resyncs`,
  );
  await close(workers);
  admin.destroy();
  admin2.destroy();
  return { n, coldStart, restart, pubsubCut };
}

export interface FanoutResult {
  n: number;
  rawRate: number;
  collectionRate: number;
  /** CPU (µs) the subscriber processes used per delivery (one update to one client), raw and collections. */
  rawCpu: number;
  collectionCpu: number;
  /** Catch-ups the copies ran meanwhile (a copy that fell behind on two periodic checks in a row runs one). */
  catchUps: number;
}
/** CPU (µs) the workers used between two readings, per delivery. */
function cpuPerDelivery(a: Counters, b: Counters, deliveries: number): number {
  return (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / deliveries;
}
/** Sustained fan-out to `n` subscriber clients: updates per second until every subscriber has every one. */
export async function fleetFanout(url: string, n: number, updates: number): Promise<FanoutResult> {
  const payload = (i: number) => ({ ...fleetItem(i), t: now() });
  // Raw: node-redis PUBLISH of the item's JSON to n raw subscribers.
  const rawWorkers = await fleet(url, n, true);
  await Promise.all(rawWorkers.map((w) => w.ask('rawSubscribe', { channel: 'fleet:raw' })));
  const pub = createClient({ url, commandOptions: { timeout: 0 } });
  await pub.connect();
  const rawCpu0 = await counters(rawWorkers);
  const rawStart = now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < updates) {
        const i = next++;
        await pub.publish('fleet:raw', JSON.stringify(payload(i)));
      }
    }),
  );
  const rawDone = Math.max(
    ...(await Promise.all(rawWorkers.map((w) => w.ask<{ at: number }>('waitMessages', { count: updates })))).map(
      (r) => r.at,
    ),
  );
  const rawRate = updates / ((rawDone - rawStart) / 1000);
  const rawCpu = cpuPerDelivery(rawCpu0, await counters(rawWorkers), updates * n);
  await close(rawWorkers);
  pub.destroy();

  const workers = await fleet(url, n, false);
  await Promise.all(workers.map((w) => w.ask('subscribe')));
  const writer = Pack.createClient(url);
  const col = writer.database(DATABASE).collection(COLLECTION);
  const profileDir = process.env.FLEET_PROFILE;
  if (profileDir) await Promise.all(workers.map((w) => w.ask('profileStart')));
  const colCpu0 = await counters(workers);
  const colStart = now();
  next = 0;
  let last = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < updates) {
        const i = next++;
        last = Math.max(last, await col.set(`k${i % 1000}`, payload(i)));
      }
    }),
  );
  // Done when every copy holds the last write (a copy that fell behind catches up from the log, and announces
  // several writes of one item as one change: counting events would undercount).
  const colDone = await waitRevision(workers, last);
  const collectionRate = updates / ((colDone - colStart) / 1000);
  const colCpu1 = await counters(workers);
  const collectionCpu = cpuPerDelivery(colCpu0, colCpu1, updates * n);
  const catchUps = colCpu1.catchUps - colCpu0.catchUps;
  if (profileDir)
    await Promise.all(
      workers.map((w, i) => w.ask('profileStop', { file: path.join(profileDir, `fanout-${n}-${i}.cpuprofile`) })),
    );
  await writer.quit();
  await close(workers);
  return { n, rawRate, collectionRate, rawCpu, collectionCpu, catchUps };
}

export interface IdleResult {
  n: number;
  collectionsCommandsPerSecond: number;
  collectionsCpuPercent: number;
  rawCpuPercent: number;
}
/** `n` clients following the collection, idle for `seconds`: commands Redis serves and CPU the clients use. */
export async function fleetIdle(url: string, n: number, seconds: number): Promise<IdleResult> {
  const admin = createClient({ url });
  await admin.connect();
  const measureCpu = async (workers: Worker[]) => {
    const a = await counters(workers);
    const s0 = await serverCounters(admin);
    const t0 = now();
    await sleep(seconds * 1000);
    const b = await counters(workers);
    const s1 = await serverCounters(admin);
    const ms = now() - t0;
    const cpuMs = (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1000;
    return { cpuPercent: (cpuMs / ms) * 100, commandsPerSecond: (s1.commands - s0.commands - 4) / (ms / 1000) };
  };
  const rawWorkers = await fleet(url, n, true);
  await Promise.all(rawWorkers.map((w) => w.ask('rawSubscribe', { channel: 'fleet:raw' })));
  const raw = await measureCpu(rawWorkers);
  await close(rawWorkers);
  const workers = await fleet(url, n, false);
  await Promise.all(workers.map((w) => w.ask('subscribe')));
  await sleep(1500);
  const col = await measureCpu(workers);
  await close(workers);
  admin.destroy();
  return {
    n,
    collectionsCommandsPerSecond: col.commandsPerSecond,
    collectionsCpuPercent: col.cpuPercent,
    rawCpuPercent: raw.cpuPercent,
  };
}

export interface FleetReport {
  runs: FleetResult[];
  fanout: FanoutResult[];
  idle: IdleResult;
}

/** The whole fleet section on a private server of its own (RDB in its directory, so a restart keeps the data). */
export async function fleetBench(quick: boolean, log: (s: string) => void): Promise<FleetReport> {
  const server = await RedisServer.start({ args: ['--dbfilename', 'dump.rdb', '--maxclients', '10000'] });
  try {
    await fill(server.url);
    const runs: FleetResult[] = [];
    for (const n of quick ? [20] : [50, 200]) runs.push(await fleetRun(server, n, log));
    const fanout: FanoutResult[] = [];
    for (const n of quick ? [10, 50] : [10, 100, 500]) {
      const f = await fleetFanout(server.url, n, quick ? 500 : 2000);
      log(
        `  fan-out N=${n}: collections ${Math.round(f.collectionRate)}/s, raw PUBLISH ${Math.round(f.rawRate)}/s (${(f.collectionRate / f.rawRate).toFixed(2)}×); subscriber CPU per delivery ${f.collectionCpu.toFixed(1)} µs, raw ${f.rawCpu.toFixed(1)} µs; ${f.catchUps} catch-ups`,
      );
      fanout.push(f);
    }
    const idle = await fleetIdle(server.url, quick ? 50 : 500, quick ? 3 : 10);
    log(
      `  idle N=${idle.n}: ${idle.collectionsCommandsPerSecond.toFixed(0)} commands/s to Redis; clients' CPU ${idle.collectionsCpuPercent.toFixed(1)} % of a core (raw subscribers ${idle.rawCpuPercent.toFixed(1)} %)`,
    );
    return { runs, fanout, idle };
  } finally {
    await server.stop();
  }
}

/** `--fanout[=10,100]`: only the fan-out measurements (see the module comment), on a private server. */
async function fanoutOnly(sizes: number[], updates: number, repeat: number): Promise<FanoutResult[]> {
  const server = await RedisServer.start({ args: ['--maxclients', '10000'] });
  try {
    await fill(server.url);
    const results: FanoutResult[] = [];
    for (const n of sizes)
      for (let r = 0; r < repeat; r++) {
        const f = await fleetFanout(server.url, n, updates);
        console.log(
          `  fan-out N=${n}: collections ${Math.round(f.collectionRate)}/s, raw PUBLISH ${Math.round(f.rawRate)}/s (${(f.collectionRate / f.rawRate).toFixed(2)}×); subscriber CPU per delivery ${f.collectionCpu.toFixed(1)} µs, raw ${f.rawCpu.toFixed(1)} µs; ${f.catchUps} catch-ups`,
        );
        results.push(f);
      }
    return results;
  } finally {
    await server.stop();
  }
}

/** Cold starts only: floor and collections (and a base checkout's collections) alternated, with CPU spent. */
async function coldOnly(sizes: number[], rounds: number, base: string | undefined): Promise<void> {
  const server = await RedisServer.start({ args: ['--maxclients', '10000'] });
  const admin = createClient({ url: server.url });
  admin.on('error', () => undefined);
  try {
    await fill(server.url);
    await admin.connect();
    const redisCpu = async () => {
      const info = await admin.info('cpu');
      const get = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
      return (get('used_cpu_user') + get('used_cpu_sys')) * 1000;
    };
    type Kind = 'floor' | 'new' | 'base';
    const kinds: Kind[] = base ? ['floor', 'new', 'base'] : ['floor', 'new'];
    for (const n of sizes) {
      const ms: Record<Kind, number[]> = { floor: [], new: [], base: [] };
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? kinds : [...kinds].reverse();
        const line: string[] = [];
        for (const kind of order) {
          const workers = await fleet(server.url, n, kind === 'floor', kind === 'base' ? base : undefined);
          await admin.configResetStat();
          const cpu0 = await redisCpu();
          const r = await Promise.all(
            workers.map((w) =>
              w.ask<{ start: number; end: number; cpu: { user: number; system: number } }>(
                kind === 'floor' ? 'mget' : 'subscribe',
                { keys: ITEMS, prefix: 'floor:' },
              ),
            ),
          );
          const cpu1 = await redisCpu();
          const stats = await admin.info('commandstats');
          await close(workers);
          const t = Math.max(...r.map((x) => x.end)) - Math.min(...r.map((x) => x.start));
          const clientCpu = r.reduce((s, x) => s + x.cpu.user + x.cpu.system, 0) / 1000;
          ms[kind].push(t);
          const top = [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+),usec=(\d+)/gm)]
            .map((m) => ({ cmd: m[1]!, calls: Number(m[2]), usec: Number(m[3]) }))
            .filter((c) => c.usec > 10000 && c.cmd !== 'info')
            .sort((a, b) => b.usec - a.usec)
            .map((c) => `${c.cmd} ${(c.usec / 1000).toFixed(0)}`)
            .join(' ');
          line.push(
            `${kind} ${t.toFixed(0)} ms (redis cpu ${(cpu1 - cpu0).toFixed(0)} ms [${top}], clients cpu ${clientCpu.toFixed(0)} ms)`,
          );
        }
        const [l1, l5] = loadavg();
        console.log(`N=${n} round ${round}: ${line.join('; ')}; load ${l1!.toFixed(1)} ${l5!.toFixed(1)}`);
      }
      const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
      const ratios = (k: Kind) => ms[k].map((t, i) => t / ms.floor[i]!);
      console.log(
        `N=${n} median: floor ${median(ms.floor).toFixed(0)} ms, new ${median(ms.new).toFixed(0)} ms (ratio median ${median(ratios('new')).toFixed(2)}×)` +
          (base ? `, base ${median(ms.base).toFixed(0)} ms (ratio median ${median(ratios('base')).toFixed(2)}×)` : ''),
      );
    }
  } finally {
    admin.destroy();
    await server.stop();
  }
}

const flag = (name: string) => process.argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
const flagValue = (name: string) => flag(name)?.split('=')[1];

if (require.main === module && flag('fanout')) {
  const quick = process.argv.includes('--quick');
  const sizes = (flagValue('fanout') ?? (quick ? '10,50' : '10,100,500')).split(',').map(Number);
  fanoutOnly(sizes, Number(flagValue('updates') ?? (quick ? 500 : 2000)), Number(flagValue('repeat') ?? 1)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else if (require.main === module && flag('cold')) {
  // `--cold=200,50 --rounds=4 [--base=<checkout>]`: only cold starts, alternated with the MGET floor (and with the
  // package of another checkout), each with the CPU Redis and the client processes spent.
  void coldOnly(
    (flagValue('cold') ?? '200').split(',').map(Number),
    Number(flagValue('rounds') ?? 4),
    flagValue('base'),
  ).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else if (require.main === module && flag('runs')) {
  // `--runs[=50,200]`: only the restart / pub/sub cut / cold start runs, at these N.
  void (async () => {
    const server = await RedisServer.start({ args: ['--dbfilename', 'dump.rdb', '--maxclients', '10000'] });
    try {
      await fill(server.url);
      for (const n of (flagValue('runs') ?? '50,200').split(',').map(Number)) {
        const r = await fleetRun(server, n, (line) => console.log(line));
        console.log(
          `  N=${n}: cold start ${(r.coldStart.collectionsMs / 1000).toFixed(2)} s, MGET floor ${(r.coldStart.floorMs / 1000).toFixed(2)} s (median ratio ${r.coldStart.ratio.toFixed(2)}×)`,
        );
      }
    } finally {
      await server.stop();
    }
    process.exit(0);
  })();
} else if (require.main === module) {
  fleetBench(process.argv.includes('--quick'), (s) => console.log(s)).then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
