/**
 * Convergence: writer and subscriber processes share one collection while its private redis-server is killed and
 * restarted empty, stopped (SIGSTOP) and resumed, restarted from an older RDB snapshot, and squeezed by
 * `allkeys-lru` eviction. Afterwards every copy, and the copy rebuilt from every event stream, equals what Redis
 * holds, and no event stream announces a change twice or removes an item it never announced.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createClient as createRedis } from 'redis';
import { storedItem } from './helpers/stored';
import { sleep, until } from './helpers/events';
import { RedisServer } from './helpers/redis-server';

interface Child {
  proc: ChildProcess;
  role: string;
  next(pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

function start(role: 'writer' | 'subscriber', url: string, seed: number): Child {
  const proc = fork(path.join(__dirname, 'helpers', 'convergence-child.ts'), [role, url, String(seed)], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const waiting: Array<[(m: Record<string, unknown>) => boolean, (m: Record<string, unknown>) => void]> = [];
  proc.on('message', (m: Record<string, unknown>) => {
    const i = waiting.findIndex(([p]) => p(m));
    if (i >= 0) waiting.splice(i, 1)[0]![1](m);
  });
  return {
    proc,
    role,
    next: (pred) => new Promise((resolve) => waiting.push([pred, resolve])),
  };
}

async function truth(url: string): Promise<string> {
  const r = createRedis({ url });
  r.on('error', () => undefined);
  await r.connect();
  const out: Record<string, unknown> = {};
  for (const m of (await r.sMembers('memis:{conv/c}:keys')).sort()) {
    const item = await storedItem(r, `memis:{conv/c}:i:${m}`);
    if (item) out[decodeURIComponent(m)] = item.data;
  }
  r.destroy();
  return JSON.stringify(out);
}

describe('replicated collections: convergence of several processes through faults', function () {
  this.timeout(300000);
  const children: Child[] = [];
  after(() => {
    for (const c of children) c.proc.kill('SIGKILL');
  });

  it('every copy and every event stream ends equal to Redis', async () => {
    const own = await RedisServer.start();
    const raw = createRedis({ url: own.url });
    raw.on('error', () => undefined);
    await raw.connect();
    const subs = [1, 2, 3].map((i) => start('subscriber', own.url, i));
    const writers = [11, 12].map((i) => start('writer', own.url, i));
    children.push(...subs, ...writers);
    await Promise.all(children.map((c) => c.next((m) => m.ready === true)));
    const faults: string[] = [];

    await sleep(1500);
    faults.push('kill + restart empty');
    await own.restart();
    await sleep(1500);

    faults.push('SIGSTOP 1.5 s');
    own.signal('SIGSTOP');
    await sleep(1500);
    own.signal('SIGCONT');
    await sleep(1500);

    faults.push('restart from an older snapshot');
    const r1 = createRedis({ url: own.url });
    r1.on('error', () => undefined);
    await r1.connect();
    await r1.sendCommand(['SAVE']);
    r1.destroy();
    await sleep(1500); // more writes after the snapshot, lost by the restart
    await own.restart();
    await sleep(1500);

    faults.push('allkeys-lru eviction');
    const r2 = createRedis({ url: own.url });
    r2.on('error', () => undefined);
    await r2.connect();
    const used = Number(/used_memory:(\d+)/.exec(await r2.info('memory'))![1]);
    await r2.configSet({ 'maxmemory-policy': 'allkeys-lru', maxmemory: String(used + 2_000_000) });
    for (let i = 0; i < 200; i++) await r2.set(`filler:${i}`, 'f'.repeat(20_000));
    await sleep(1000);
    await r2.configSet({ maxmemory: '0', 'maxmemory-policy': 'noeviction' });
    r2.destroy();
    await sleep(1500);

    for (const w of writers) w.proc.send({ cmd: 'stop' });
    const reports = await Promise.all(writers.map((w) => w.next((m) => m.role === 'writer')));
    assert.ok(
      reports.every((r) => (r.ok as number) > 20),
      `writers kept writing: ${JSON.stringify(reports)}`,
    );

    for (const [i, s] of subs.entries()) {
      let last: Record<string, unknown> = {};
      let expected = '';
      await until(
        async () => {
          s.proc.send({ cmd: 'dump' });
          last = await s.next((m) => m.dump === true);
          expected = await truth(own.url); // items with a TTL keep expiring meanwhile
          return JSON.stringify(last.items) === expected && JSON.stringify(last.mirror) === expected;
        },
        `subscriber ${i} equal to Redis after ${faults.join(', ')}`,
        20000,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}\ncopy:   ${JSON.stringify(last.items)}\nevents: ${JSON.stringify(last.mirror)}\nredis:  ${expected}`,
        );
      });
      const stats = last.stats as { resyncs: number; catchUps: number };
      assert.ok(stats.resyncs >= 1, `subscriber ${i} resynced after the restarts: ${JSON.stringify(stats)}`);
      console.log(`      subscriber ${i}: ${JSON.stringify(stats)}, ${last.events as number} events`);
      s.proc.send({ cmd: 'events' });
      const { events } = (await s.next((m) => Array.isArray(m.events))) as {
        events: Array<[string, string, unknown]>;
      };
      const held = new Map<string, string>();
      for (const [type, key, data] of events) {
        const json = JSON.stringify(data);
        if (type === 'set') {
          assert.notEqual(held.get(key), json, `subscriber ${i}: set ${key} twice with the same contents`);
          held.set(key, json);
        } else {
          assert.equal(held.get(key), json, `subscriber ${i}: ${type} of ${key} without its last copy`);
          held.delete(key);
        }
      }
    }
    raw.destroy();
    for (const s of subs) s.proc.send({ cmd: 'stop' });
    await own.stop();
  });
});
