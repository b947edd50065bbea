/**
 * One process of the fleet benchmark (bench/fleet.ts): holds `n` clients, each with its own connections, and
 * answers the coordinator's requests over IPC. Either `n` facade clients following one collection, or `n` raw
 * node-redis clients (the floors: one MGET of JSON strings per item, raw pub/sub).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import PackHere from '../index';
import type { Collection, MemisClient } from '../index';

// `FLEET_LIB=<dir>`: the package of another checkout (an older build, to compare in one run).
const Pack = (
  process.env.FLEET_LIB
    ? // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require(path.join(process.env.FLEET_LIB, 'index')) as { default: typeof PackHere }).default
    : PackHere
) as typeof PackHere;

type Request =
  | { id: number; cmd: 'open'; url: string; n: number; raw: boolean; database: string; collection: string }
  | { id: number; cmd: 'subscribe' }
  | { id: number; cmd: 'mget'; keys: number; prefix: string }
  | { id: number; cmd: 'rawSubscribe'; channel: string }
  | { id: number; cmd: 'waitRevision'; revision: number }
  | { id: number; cmd: 'waitMessages'; count: number }
  | { id: number; cmd: 'counters' }
  | { id: number; cmd: 'close' }
  | { id: number; cmd: 'profileStart' }
  | { id: number; cmd: 'profileStop'; file: string };

const makeRaw = (url: string) => createClient({ url, commandOptions: { timeout: 0 } });
type RawClient = ReturnType<typeof makeRaw>;
interface CopyStats {
  revision: number;
  resyncs: number;
  catchUps: number;
}
/** A copy's counters: `collection.stats()` where the package has it, else its replica's. */
function copyStats(col: Collection): CopyStats | undefined {
  const c = col as unknown as { stats?: () => CopyStats; replica?: { stats(): CopyStats } };
  return typeof c.stats === 'function' ? c.stats() : c.replica?.stats();
}

const now = () => performance.timeOrigin + performance.now();
let facade: Array<{ client: MemisClient; col: Collection; errors: number; restored: number; messages: number }> = [];
let raw: Array<{ client: RawClient; sub?: RawClient; messages: number }> = [];

let session: Session | undefined;

function reply(id: number, body: Record<string, unknown>): void {
  process.send?.({ id, ...body });
}

async function handle(req: Request): Promise<Record<string, unknown>> {
  switch (req.cmd) {
    case 'open': {
      if (req.raw) {
        raw = await Promise.all(
          Array.from({ length: req.n }, async () => {
            const client = makeRaw(req.url);
            client.on('error', () => undefined);
            await client.connect();
            return { client, messages: 0 };
          }),
        );
      } else {
        facade = Array.from({ length: req.n }, () => {
          const client = Pack.createClient(req.url);
          const col = client.database(req.database).collection(req.collection);
          const entry = { client, col, errors: 0, restored: 0, messages: 0 };
          client.on('error', () => entry.errors++);
          try {
            // The end of an outage, where the package announces it.
            (client as unknown as { on(e: string, f: () => void): void }).on('restored', () => entry.restored++);
          } catch {
            entry.restored = -1;
          }
          col.on('set', () => entry.messages++);
          return entry;
        });
      }
      return {};
    }
    case 'subscribe': {
      const cpu = process.cpuUsage();
      const start = now();
      const times = await Promise.all(
        facade.map(async (f) => {
          await f.col.subscribe();
          return now() - start;
        }),
      );
      return { start, end: now(), slowest: Math.max(...times), cpu: process.cpuUsage(cpu) };
    }
    case 'mget': {
      // The floor: every item as one JSON string, read with MGET in batches of 1,000 and parsed, one client each.
      const cpu = process.cpuUsage();
      const start = now();
      await Promise.all(
        raw.map(async (r) => {
          const held = new Map<string, unknown>();
          for (let i = 0; i < req.keys; i += 1000) {
            const names = Array.from({ length: Math.min(1000, req.keys - i) }, (_, j) => `${req.prefix}${i + j}`);
            const values = await r.client.mGet(names);
            values.forEach((v, j) => held.set(names[j]!, v === null ? undefined : JSON.parse(v)));
          }
          return held.size;
        }),
      );
      return { start, end: now(), cpu: process.cpuUsage(cpu) };
    }
    case 'rawSubscribe': {
      await Promise.all(
        raw.map(async (r) => {
          r.sub = r.client.duplicate();
          r.sub.on('error', () => undefined);
          await r.sub.connect();
          await r.sub.subscribe(req.channel, (m) => {
            JSON.parse(m);
            r.messages++;
          });
        }),
      );
      return {};
    }
    case 'waitRevision': {
      // Until every copy holds at least this revision: when the last one got there.
      for (;;) {
        const behind = facade.some((f) => (copyStats(f.col)?.revision ?? 0) < req.revision);
        if (!behind) return { at: now() };
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    case 'waitMessages': {
      const all = () =>
        facade.length > 0 ? facade.every((f) => f.messages >= req.count) : raw.every((r) => r.messages >= req.count);
      // A raw subscriber Redis disconnected (output buffer) never gets them all: give up after a minute.
      const deadline = now() + 60000;
      while (!all() && now() < deadline) await new Promise((r) => setTimeout(r, 2));
      return { at: now() };
    }
    case 'counters': {
      const stats = facade.map((f) => copyStats(f.col));
      return {
        errors: facade.map((f) => f.errors),
        restored: facade.map((f) => f.restored),
        resyncs: stats.reduce((s, x) => s + (x?.resyncs ?? 0), 0),
        catchUps: stats.reduce((s, x) => s + (x?.catchUps ?? 0), 0),
        messages: facade.length > 0 ? facade.map((f) => f.messages) : raw.map((r) => r.messages),
        cpu: process.cpuUsage(),
        heap: process.memoryUsage().heapUsed,
      };
    }
    case 'profileStart': {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      return {};
    }
    case 'profileStop': {
      if (!session) return {};
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(req.file, JSON.stringify(profile));
      session.disconnect();
      session = undefined;
      return {};
    }
    case 'close': {
      await Promise.all(facade.map((f) => f.client.quit().catch(() => undefined)));
      for (const r of raw) {
        r.sub?.destroy();
        r.client.destroy();
      }
      facade = [];
      raw = [];
      return {};
    }
  }
}

process.on('message', (req: Request) => {
  handle(req).then(
    (body) => reply(req.id, body),
    (err: unknown) => reply(req.id, { error: err instanceof Error ? err.message : String(err) }),
  );
});
