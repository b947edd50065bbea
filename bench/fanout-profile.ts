/**
 * The subscriber side of fan-out, alone: CPU per notification a collection copy spends, next to a raw node-redis
 * subscriber. `node -r ts-node/register/transpile-only bench/fanout-profile.ts <copy|copy-listener|raw>
 * [messages] [out.cpuprofile]`; with an output file the V8 profiler runs over the measured part only (see
 * bench/top.ts for the shares).
 *
 * The notifications are written as RESP and piped to Redis by `redis-cli --pipe` in another process, so the
 * publisher's CPU is not counted: updates of 1,000 items of 10 fields, continuing one chain (what the write
 * script publishes). The copy is created empty and the periodic check is pushed out of the run. Environment:
 * FANOUT_CLIENTS (clients in this process, as a fleet worker holds 25), FANOUT_KEYS (items updated in turn),
 * FANOUT_FLEET=1 (the fleet benchmark's item), FANOUT_PACED=1 (published by a node-redis client in another process,
 * 64 in flight, instead of all at once: subscribers keep up rather than read a backlog).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import Pack from '../index';
import type { FacadeCollection } from '../lib/facade';
import { fleetItem } from './fleet';
import { RedisServer } from '../test/helpers/redis-server';

const resp = (args: string[]) =>
  `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');

async function main(): Promise<void> {
  const [who = 'copy', countArg = '200000', out] = process.argv.slice(2);
  const count = Number(countArg);
  // FANOUT_CLIENTS subscriber clients in this process (as the fleet benchmark's workers hold 25), FANOUT_KEYS items
  // updated in turn, FANOUT_FLEET=1 for the fleet benchmark's item (whose updates change length) instead of the
  // 10-field one.
  const clients = Number(process.env.FANOUT_CLIENTS ?? 1);
  const keys = Number(process.env.FANOUT_KEYS ?? 1000);
  const fleetLike = process.env.FANOUT_FLEET === '1';
  // No output buffer limit: a subscriber that falls behind is not disconnected.
  const server = await RedisServer.start({ args: ['--client-output-buffer-limit', 'pubsub 0 0 0'] });
  const channel = 'memis:{fan/c}:ch';
  const file = path.join(tmpdir(), `fanout-${process.pid}.resp`);
  const parts: string[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const item: Record<string, unknown> = fleetLike ? { ...fleetItem(seq), t: Date.now() + Math.random() } : {};
    if (!fleetLike) for (let f = 0; f < 10; f++) item[`field${f}`] = f === 0 ? seq : `value ${f} of item ${seq % 1000}`;
    const message = [seq, 'e1', seq, seq - 1, 's', `k${seq % keys}`, 0, JSON.stringify(item)].join('\n');
    parts.push(resp(['PUBLISH', channel, message]));
  }
  writeFileSync(file, parts.join(''));

  let received = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const tick = () => {
    if (++received === count * clients) done();
  };
  let stop: () => Promise<void>;
  if (who === 'raw') {
    // As the fleet benchmark's raw subscribers: each message parsed.
    const subs = Array.from({ length: clients }, () => createClient({ url: server.url }));
    for (const sub of subs) {
      await sub.connect();
      await sub.subscribe(channel, (m) => {
        JSON.parse(m.slice(m.indexOf('{')));
        tick();
      });
    }
    stop = async () => void (await Promise.all(subs.map((s) => s.close())));
  } else {
    const copies = Array.from({ length: clients }, () => {
      const client = Pack.createClient(server.url, { syncInterval: 3_600_000 });
      const c = client.database('fan').collection('c') as FacadeCollection;
      if (who === 'copy-listener') c.on('set', () => undefined);
      return { client, c };
    });
    for (const { c } of copies) await c.subscribe();
    // Count applied notifications without a listener of ours: the copies' sequence numbers.
    const timer = setInterval(() => {
      if (copies.every(({ c }) => c.replica?.seq === count)) done();
    }, 5);
    stop = async () => {
      clearInterval(timer);
      await Promise.all(copies.map(({ client }) => client.quit()));
    };
  }
  const session = out ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  // FANOUT_PACED=1: published by a node-redis client in another process, 64 PUBLISH in flight (as the fleet
  // benchmark's writer), so the subscribers keep up instead of reading a flood; else all at once by redis-cli.
  const paced =
    `const fs = require('fs'); const { createClient } = require('redis');` +
    `const lines = fs.readFileSync(${JSON.stringify(file)}, 'utf8').split('\\r\\n');` +
    `(async () => { const c = createClient({ url: ${JSON.stringify(server.url)} }); await c.connect();` +
    `const msgs = []; for (let i = 0; i + 6 < lines.length; i += 7) msgs.push(lines[i + 6]);` +
    `let next = 0; await Promise.all(Array.from({ length: 64 }, async () => {` +
    ` while (next < msgs.length) await c.publish(${JSON.stringify(channel)}, msgs[next++]); }));` +
    `await c.quit(); })();`;
  const pipe =
    process.env.FANOUT_PACED === '1'
      ? spawn(process.execPath, ['-e', paced], { stdio: ['ignore', 'ignore', 'inherit'] })
      : spawn('sh', ['-c', `redis-cli -p ${server.port} --pipe < ${file}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const piped = new Promise((r) => pipe.once('exit', r));
  await finished;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(out!, JSON.stringify(profile));
  }
  await piped;
  const usPerMessage = (cpu.user + cpu.system) / (count * clients);
  console.log(
    `${who}${clients > 1 ? ` ×${clients}` : ''}: ${count} messages in ${ms.toFixed(0)} ms, ${(count / (ms / 1000)).toFixed(0)}/s, ` +
      `${usPerMessage.toFixed(2)} µs CPU per message`,
  );
  await Promise.race([stop(), new Promise((r) => setTimeout(r, 2000))]);
  await server.stop();
  process.exit(0);
}

void main();
