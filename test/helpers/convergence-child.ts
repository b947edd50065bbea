/**
 * A writer or subscriber process for the convergence test (test/collections-convergence.test.ts), driven over IPC.
 * argv: role ('writer' | 'subscriber'), Redis URL, seed.
 */
import Pack from '../../index';

const [role, url, seedText] = process.argv.slice(2) as [string, string, string];
let seed = Number(seedText) || 1;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const send = (m: unknown) => process.send?.(m);

const client = Pack.createClient(url, {
  syncInterval: 200,
  connectTimeout: 1000,
  commandTimeout: 1000,
  retryDelay: 200,
});
let errors = 0;
client.on('error', () => errors++);
const col = client.database('conv').collection<{ w: string; n: number }>('c');

if (role === 'writer') {
  let stop = false;
  let n = 0;
  let ok = 0;
  let failed = 0;
  const run = async () => {
    while (!stop) {
      const key = `k${Math.floor(random() * 30)}`;
      const r = random();
      const p =
        r < 0.15 ? col.del(key) : col.set(key, { w: seedText, n: n++ }, r < 0.45 ? 0.3 + random() * 2 : undefined);
      await p.then(
        () => ok++,
        () => failed++,
      );
      await new Promise((res) => setTimeout(res, 5 + random() * 20));
    }
  };
  const done = run();
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'stop') {
      stop = true;
      void done.then(async () => {
        send({ role, ok, failed, errors });
        await client.quit();
        process.exit(0);
      });
    }
  });
  send({ ready: true });
} else {
  const copy = new Map<string, unknown>();
  const events: Array<[string, string, unknown]> = [];
  for (const type of ['set', 'expire', 'delete'] as const)
    col.on(type, (key, data) => {
      events.push([type, key, data]);
      if (type === 'set') copy.set(key, data);
      else copy.delete(key);
    });
  void col.subscribe().then(() => send({ ready: true }));
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'dump') {
      const items = Object.fromEntries(
        col
          .keys()
          .sort()
          .map((k) => [k, col.get(k)]),
      );
      const stats = (col as unknown as { replica?: { stats(): Record<string, number> } }).replica?.stats();
      send({ dump: true, items, events: events.length, errors, stats, mirror: Object.fromEntries([...copy].sort()) });
    }
    if (m.cmd === 'events') send({ events });
    if (m.cmd === 'stop') void client.quit().then(() => process.exit(0));
  });
}
