/** One figure for BENCHMARKS.md: the runner face's round trips/s at concurrency 1 WITHOUT NODE_ENV=production. */
import { performance } from 'node:perf_hooks';
import Pack from '../index';

async function main(): Promise<void> {
  const [url, ms] = [process.argv[2]!, Number(process.argv[3])];
  const { manager } = await Pack.promises.createManager({ connectionString: url });
  const { connection } = await Pack.promises.getConnection({ manager });
  const value = { id: 42, name: 'Ada Lovelace', tags: ['math', 'engines'], active: true };
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await Pack.cacheValue({ connection, key: 'dev', value });
    await Pack.getCachedValue({ connection, key: 'dev' });
    n++;
  }
  process.stdout.write(String(n / ((performance.now() - start) / 1000)));
  await Pack.promises.destroyManager({ manager });
}
void main();
