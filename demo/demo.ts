/**
 * `npm run demo`: the machines through each face, against REDIS_URL or a private redis-server started here.
 */
import Pack from '../index';
import { RedisServer } from '../test/helpers/redis-server';

async function main(): Promise<void> {
  let server: RedisServer | undefined;
  let url = process.env.REDIS_URL;
  if (!url) {
    server = await RedisServer.start();
    url = server.url;
    console.log(`Started a private redis-server on port ${server.port} (set REDIS_URL to use your own).`);
  }

  console.log('Machines:');
  // 1. The runner face, with await: exactly as machinepack-redis callers write it.
  const { manager } = await Pack.createManager({
    connectionString: url,
    onUnexpectedFailure: (err) => console.warn(`[redis] ${err.failureType}: ${err.message}`),
  });
  const { connection } = await Pack.getConnection({ manager });
  await Pack.cacheValue({ connection, key: 'demo:greeting', value: { hello: 'world', n: 42 }, ttl: 60 });
  const { value } = await Pack.getCachedValue({ connection, key: 'demo:greeting' });
  console.log('await getCachedValue →', value);

  // 2. The runner face with .switch: one handler per exit.
  await new Promise<void>((resolve) =>
    Pack.getCachedValue({ connection, key: 'demo:missing' }).switch({
      error: (err) => {
        console.error('error', err);
        resolve();
      },
      notFound: () => {
        console.log('.switch getCachedValue → notFound (as expected)');
        resolve();
      },
      success: (r) => {
        console.log('.switch success?', r.value);
        resolve();
      },
    }),
  );

  // 3. The promise face: plain async functions, other exits reject with `exit` and `raw`.
  await Pack.promises.destroyCachedValues({ connection, keys: ['demo:greeting'] });
  try {
    await Pack.promises.getCachedValue({ connection, key: 'demo:greeting' });
  } catch (err) {
    console.log('promises getCachedValue after destroyCachedValues → exit', (err as { exit?: string }).exit);
  }

  await Pack.promises.releaseConnection({ connection });
  await Pack.promises.destroyManager({ manager });
  console.log('Connection released, manager destroyed.\n');

  // 4. Replicated collections: two independent clients (as two servers would be) share one collection.
  const writer = Pack.createClient(url);
  const reader = Pack.createClient(url);
  const mine = writer.database('region-nl').collection<{ genre: string }>('artists');
  const theirs = reader.database('region-nl').collection<{ genre: string }>('artists');
  await mine.set('coldplay', { genre: 'Alternative' });
  theirs.on('set', (key, data) => console.log(`  reader: set ${key}`, data));
  theirs.multi('expire delete', (key, data) => console.log(`  reader: gone ${key} (last copy`, data, ')'));
  await theirs.subscribe(); // the late joiner first gets `set` for coldplay
  await mine.set('muse', { genre: 'Rock' }, 0.5); // expires after half a second
  await mine.set('coldplay', { genre: 'Pop' });
  await mine.del('coldplay');
  await new Promise((r) => setTimeout(r, 1200));
  console.log('  reader copy now holds:', theirs.keys());
  await Promise.all([writer.quit(), reader.quit()]);

  await server?.stop();
  console.log('Done.');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
