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
      error: (err) => { console.error('error', err); resolve(); },
      notFound: () => { console.log('.switch getCachedValue → notFound (as expected)'); resolve(); },
      success: (r) => { console.log('.switch success?', r.value); resolve(); },
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
  await server?.stop();
  console.log('Done: connection released, manager destroyed.');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
