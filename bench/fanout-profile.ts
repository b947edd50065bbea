/**
 * The subscriber side of fan-out, alone: CPU per notification a collection copy spends, next to a raw node-redis
 * subscriber. `node -r ts-node/register/transpile-only bench/fanout-profile.ts <copy|copy-listener|raw>
 * [messages] [out.cpuprofile]`; with an output file the V8 profiler runs over the measured part only (see
 * bench/top.ts for the shares).
 *
 * The notifications are written as RESP and piped to Redis by `redis-cli --pipe` in another process, so the
 * publisher's CPU is not counted: updates of 1,000 items of 10 fields, continuing one chain (what the write
 * script publishes). The copy is created empty and the periodic check is pushed out of the run.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import Pack from '../index';
import type { FacadeCollection } from '../lib/facade';
import { RedisServer } from '../test/helpers/redis-server';

const resp = (args: string[]) =>
  `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');

async function main(): Promise<void> {
  const [who = 'copy', countArg = '200000', out] = process.argv.slice(2);
  const count = Number(countArg);
  // No output buffer limit: a subscriber that falls behind is not disconnected.
  const server = await RedisServer.start({ args: ['--client-output-buffer-limit', 'pubsub 0 0 0'] });
  const channel = 'memis:{fan/c}:ch';
  const file = path.join(tmpdir(), `fanout-${process.pid}.resp`);
  const parts: string[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const item: Record<string, unknown> = {};
    for (let f = 0; f < 10; f++) item[`field${f}`] = f === 0 ? seq : `value ${f} of item ${seq % 1000}`;
    const message = [seq, 'e1', seq, seq - 1, 's', `k${seq % 1000}`, 0, JSON.stringify(item)].join('\n');
    parts.push(resp(['PUBLISH', channel, message]));
  }
  writeFileSync(file, parts.join(''));

  let received = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const tick = () => {
    if (++received === count) done();
  };
  let stop: () => Promise<void>;
  if (who === 'raw') {
    const sub = createClient({ url: server.url });
    await sub.connect();
    await sub.subscribe(channel, tick);
    stop = () => sub.close();
  } else {
    const client = Pack.createClient(server.url, { syncInterval: 3_600_000 });
    const c = client.database('fan').collection('c') as FacadeCollection;
    if (who === 'copy-listener') c.on('set', () => undefined);
    await c.subscribe();
    // Count applied notifications without a listener of ours: the copy's sequence number.
    const timer = setInterval(() => {
      if (c.replica?.seq === count) done();
    }, 5);
    stop = async () => {
      clearInterval(timer);
      await client.quit();
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
  const pipe = spawn('sh', ['-c', `redis-cli -p ${server.port} --pipe < ${file}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const piped = new Promise((r) => pipe.once('exit', r));
  await finished;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(out!, JSON.stringify(profile));
  }
  await piped;
  const usPerMessage = (cpu.user + cpu.system) / count;
  console.log(
    `${who}: ${count} messages in ${ms.toFixed(0)} ms, ${(count / (ms / 1000)).toFixed(0)}/s, ` +
      `${usPerMessage.toFixed(2)} µs CPU per message`,
  );
  await Promise.race([stop(), new Promise((r) => setTimeout(r, 2000))]);
  await server.stop();
  process.exit(0);
}

void main();
