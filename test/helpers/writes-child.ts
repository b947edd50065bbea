/**
 * A process for test/collections-writes.test.ts, driven over IPC. argv: role, Redis URL, collection.
 * - `increment <n>`: n read-modify-write increments of the item `counter` with `ifRevision`, retrying on
 *   E_CONFLICT; reports how many conflicts it met.
 * - `subscriber`: follows the collection; on every event of an item `b<i>` it checks that every item `b<j>` of the
 *   collection already holds the same `round` (a batch writes them all with one round); reports what it saw.
 */
import Pack from '../../index';

const [role, url, name, countText] = process.argv.slice(2) as [string, string, string, string?];
const send = (m: unknown) => process.send?.(m);
const client = Pack.createClient(url, { syncInterval: 200, connectTimeout: 2000, retryDelay: 200 });
client.on('error', () => undefined);
const col = client.database('writes').collection<{ n?: number; round?: number }>(name);

async function increment(times: number): Promise<void> {
  let conflicts = 0;
  await col.subscribe();
  for (let i = 0; i < times; i++) {
    for (;;) {
      const current = col.entry('counter');
      try {
        await col.set('counter', { n: (current?.data.n ?? 0) + 1 }, { ifRevision: current?.revision ?? 0 });
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== 'E_CONFLICT') throw err;
        conflicts++;
        // Our copy is behind: wait until it holds at least the revision Redis reported.
        const revision = (err as { revision: number }).revision;
        while ((col.entry('counter')?.revision ?? 0) < revision) await new Promise((r) => setTimeout(r, 1));
      }
    }
  }
  send({ done: true, conflicts });
}

if (role === 'increment') {
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'go') increment(Number(countText)).catch((err: Error) => send({ done: true, error: err.message }));
    if (m.cmd === 'stop') void client.quit().then(() => process.exit(0));
  });
  send({ ready: true });
} else {
  let events = 0;
  const torn: string[] = [];
  const check = (key: string, round: number | undefined) => {
    events++;
    for (const k of col.keys()) {
      if (!k.startsWith('b')) continue;
      const other = col.get(k)?.round;
      if (other !== round) torn.push(`${key}@${round} saw ${k}@${other}`);
    }
  };
  col.on('set', (key, data) => check(key, data.round));
  void col.subscribe().then(() => send({ ready: true }));
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'report')
      send({ report: true, events, last: col.get('b9')?.round, torn: torn.slice(0, 10), tornCount: torn.length });
    if (m.cmd === 'stop') void client.quit().then(() => process.exit(0));
  });
}
