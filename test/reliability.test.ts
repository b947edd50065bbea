/**
 * Faults against real servers: killed, hung, restarted empty, full, at the client limit, connections killed,
 * and churn. The figures (calls issued, settled, failed, never settled) are printed for RELIABILITY.md.
 */
import assert from 'node:assert/strict';
import Pack from '../index';
import type { Connection, Manager } from '../index';
import { connect } from './helpers/connect';
import { sleep, until } from './helpers/events';
import { RedisServer } from './helpers/redis-server';

interface Tally {
  issued: number;
  succeeded: number;
  declared: Record<string, number>;
  other: number;
  unsettled: number;
  slowestMs: number;
  example?: string;
  reasons?: Record<string, number>;
}

/** Issue `n` concurrent cache calls and count how each settled, giving up on waiting after `patienceMs`. */
async function storm(
  connection: Connection,
  n: number,
  patienceMs: number,
  during?: () => void | Promise<void>,
): Promise<Tally> {
  const tally: Tally = { issued: n, succeeded: 0, declared: {}, other: 0, unsettled: 0, slowestMs: 0 };
  const t0 = Date.now();
  const calls = Array.from({ length: n }, (_, i) => {
    const p =
      i % 2
        ? Pack.promises.cacheValue({ connection, key: `storm:${i}`, value: { i } })
        : Pack.promises.getCachedValue({ connection, key: `storm:${i - 1}` });
    return p
      .then(
        () => {
          tally.succeeded++;
        },
        (err: { exit?: string; message?: string; raw?: { error?: Error } }) => {
          if (err.exit) {
            tally.declared[err.exit] = (tally.declared[err.exit] ?? 0) + 1;
            if (err.raw?.error)
              (tally.reasons ??= {})[err.raw.error.message] = ((tally.reasons ??= {})[err.raw.error.message] ?? 0) + 1;
          } else {
            tally.other++;
            tally.example ??= String(err.message);
          }
        },
      )
      .finally(() => {
        tally.slowestMs = Math.max(tally.slowestMs, Date.now() - t0);
      });
  });
  await during?.();
  const settledAll = await Promise.race([Promise.all(calls).then(() => true), sleep(patienceMs).then(() => false)]);
  if (!settledAll)
    tally.unsettled = n - tally.succeeded - tally.other - Object.values(tally.declared).reduce((a, b) => a + b, 0);
  return tally;
}

const report: Record<string, Tally> = {};
const unhandled: unknown[] = [];
const onUnhandled = (r: unknown) => unhandled.push(r);

describe('reliability under faults', function () {
  this.timeout(60000);
  let srv: RedisServer;
  let manager: Manager;
  let connection: Connection;
  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    srv = await RedisServer.start();
    ({ manager } = await Pack.promises.createManager({
      connectionString: srv.url,
      meta: { commandTimeout: 1000 },
      onUnexpectedFailure: () => undefined,
    }));
    ({ connection } = await Pack.promises.getConnection({ manager }));
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await Pack.promises.destroyManager({ manager });
    await srv.stop();
    if (process.env.RELIABILITY_REPORT) console.log(JSON.stringify(report, null, 2));
  });
  afterEach(() => assert.deepEqual(unhandled, [], 'no unhandled rejection'));

  it('killed (SIGKILL) under 400 concurrent calls: every call settles with success or a declared exit; the connection works again', async () => {
    const tally = await storm(connection, 400, 10000, () => srv.signal('SIGKILL'));
    report.killed = tally;
    assert.equal(tally.unsettled, 0);
    assert.equal(tally.other, 0, `undeclared outcomes: ${JSON.stringify(tally)}`);
    assert.ok(tally.slowestMs < 2000, `slowest call settled after ${tally.slowestMs} ms`);
    await srv.restart();
    await until(() => connection.isReady, 'reconnect');
    await Pack.promises.cacheValue({ connection, key: 'after-kill', value: 1 });
    assert.deepEqual(await Pack.promises.getCachedValue({ connection, key: 'after-kill' }), { value: 1 });
  });

  it('hung (SIGSTOP): calls settle with badConnection (E_REDIS_NO_REPLY) within commandTimeout; all works after SIGCONT', async () => {
    srv.signal('SIGSTOP');
    try {
      const tally = await storm(connection, 200, 8000);
      report.hung = tally;
      assert.equal(tally.unsettled, 0);
      assert.equal(tally.declared.badConnection, 200);
      assert.ok(
        tally.slowestMs >= 1000 && tally.slowestMs < 3000,
        `settled after ${tally.slowestMs} ms (commandTimeout 1000)`,
      );
      assert.deepEqual(
        Object.keys(tally.reasons ?? {}).filter((m) => /did not answer within 1000 ms/.test(m)).length,
        1,
        JSON.stringify(tally.reasons),
      );
      // While the server is still hung, the reset connection is reconnecting: calls exit badConnection at once.
      await assert.rejects(Pack.promises.getCachedValue({ connection, key: 'x' }), { exit: 'badConnection' });
    } finally {
      srv.signal('SIGCONT');
    }
    await until(() => connection.isReady, 'the connection is back after SIGCONT');
    await Pack.promises.cacheValue({ connection, key: 'after-hang', value: 2 });
    assert.deepEqual(await Pack.promises.getCachedValue({ connection, key: 'after-hang' }), { value: 2 });
  });

  it('restarted empty: cached values miss cleanly (notFound)', async () => {
    await Pack.promises.cacheValue({ connection, key: 'volatile', value: 'v' });
    await srv.restart();
    await until(() => connection.isReady, 'reconnect');
    await assert.rejects(Pack.promises.getCachedValue({ connection, key: 'volatile' }), { exit: 'notFound' });
  });

  it('CLIENT KILL of our connection: a declared outcome, then it reconnects by itself', async () => {
    const admin = await connect(srv.url);
    const id = await connection.clientId();
    await admin.connection.sendCommand(['CLIENT', 'KILL', 'ID', String(id)]);
    const r = await Pack.promises.getCachedValue({ connection, key: 'k' }).then(
      () => 'success',
      (e: { exit?: string }) => e.exit,
    );
    assert.ok(['notFound', 'badConnection'].includes(String(r)), String(r));
    await until(() => connection.isReady, 'reconnect');
    await Pack.promises.cacheValue({ connection, key: 'after-client-kill', value: 3 });
    await Pack.promises.destroyManager({ manager: admin.manager });
  });

  it("out of memory (maxmemory + noeviction): cacheValue is refused with Redis's reason, nothing half-written", async () => {
    const full = await RedisServer.start({ args: ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'] });
    const c = await connect(full.url);
    let refused: Error | undefined;
    for (let i = 0; i < 50 && !refused; i++) {
      await Pack.promises
        .cacheValue({ connection: c.connection, key: `big:${i}`, value: 'x'.repeat(256 * 1024), ttl: 600 })
        .catch((e: Error) => (refused = e));
    }
    assert.ok(refused, 'a write was refused');
    assert.match(refused.message, /OOM/);
    const last = Number(await c.connection.dbSize());
    const withTtl = await Promise.all(Array.from({ length: last }, (_, i) => c.connection.ttl(`big:${i}`)));
    assert.ok(
      withTtl.every((t) => Number(t) > 0),
      'every stored value has its TTL',
    );
    await Pack.promises.destroyManager({ manager: c.manager });
    await full.stop();
  });

  it("refused at the client limit (maxclients): getConnection exits failed with Redis's reason", async () => {
    const tight = await RedisServer.start({ args: ['--maxclients', '1'] });
    const first = await connect(tight.url);
    const { manager: m2 } = await Pack.promises.createManager({ connectionString: tight.url });
    const r = await Pack.promises.getConnection({ manager: m2, timeout: 3000 }).then(
      () => 'success',
      (e: { exit?: string; raw?: { error: Error } }) => `${e.exit}: ${e.raw?.error.message}`,
    );
    assert.match(r, /^failed: .*max number of clients/);
    assert.equal(m2.connections.size, 0);
    await Pack.promises.destroyManager({ manager: first.manager });
    await Pack.promises.destroyManager({ manager: m2 });
    await tight.stop();
  });
});

describe('churn leaves nothing behind', function () {
  this.timeout(120000);
  let srv: RedisServer;
  before(async () => {
    srv = await RedisServer.start();
  });
  after(async () => {
    await srv.stop();
    if (process.env.RELIABILITY_REPORT)
      console.log(
        JSON.stringify(
          { churnConnections: report.churnConnections, churnSubscriptions: report.churnSubscriptions },
          null,
          2,
        ),
      );
  });

  const resources = () => {
    const counts: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
    return counts;
  };
  const heapMb = () => {
    global.gc?.();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };

  it('2,000 createManager → getConnection → releaseConnection → destroyManager cycles: no growth in sockets, timers or heap', async () => {
    const cycle = async () => {
      const { manager } = await Pack.promises.createManager({ connectionString: srv.url });
      const { connection } = await Pack.promises.getConnection({ manager });
      await Pack.promises.cacheValue({ connection, key: 'churn', value: 1 });
      await Pack.promises.releaseConnection({ connection });
      await Pack.promises.destroyManager({ manager });
    };
    for (let i = 0; i < 100; i++) await cycle();
    await sleep(100);
    const before = resources();
    const heapBefore = heapMb();
    for (let i = 0; i < 2000; i++) await cycle();
    await sleep(200);
    const after = resources();
    const heapAfter = heapMb();
    report.churnConnections = { heapBeforeMb: heapBefore, heapAfterMb: heapAfter, before, after } as never;
    for (const [kind, n] of Object.entries(after))
      assert.ok(n <= (before[kind] ?? 0), `${kind}: ${before[kind] ?? 0} → ${n}`);
    assert.ok(heapAfter - heapBefore < 20, `heap grew ${(heapAfter - heapBefore).toFixed(1)} MB`);
  });

  it('1,000 subscribe / unsubscribe cycles of a collection: no growth in sockets, timers or heap', async () => {
    const client = Pack.createClient(srv.url);
    const col = client.database('churn').collection('c');
    await col.set('k', { a: 1 });
    const cycle = async () => {
      await col.subscribe();
      await col.unsubscribe();
    };
    for (let i = 0; i < 50; i++) await cycle();
    await sleep(100);
    const before = resources();
    const heapBefore = heapMb();
    for (let i = 0; i < 1000; i++) await cycle();
    await sleep(200);
    const after = resources();
    const heapAfter = heapMb();
    report.churnSubscriptions = { heapBeforeMb: heapBefore, heapAfterMb: heapAfter, before, after } as never;
    for (const [kind, n] of Object.entries(after))
      assert.ok(n <= (before[kind] ?? 0), `${kind}: ${before[kind] ?? 0} → ${n}`);
    assert.ok(heapAfter - heapBefore < 20, `heap grew ${(heapAfter - heapBefore).toFixed(1)} MB`);
    await client.quit();
  });
});
