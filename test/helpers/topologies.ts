/**
 * A Redis Cluster (3 masters, 1 replica each) and a Sentinel group (a master, a replica, 3 sentinels) on loopback
 * ports, each started once and reused by every test that needs it.
 */
import { execFileSync } from 'node:child_process';
import { createClient } from 'redis';
import { RedisServer } from './redis-server';

const CLI = process.env.REDIS_CLI_BIN || 'redis-cli';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function info(port: number, section: string[]): Promise<string> {
  const c = createClient({ RESP: 2, socket: { port, host: '127.0.0.1', reconnectStrategy: false } });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return String(await c.sendCommand(section));
  } catch {
    return '';
  } finally {
    c.destroy();
  }
}

export interface Cluster {
  nodes: RedisServer[];
  seedUrl: string;
  /** The port of the master serving `key`'s slot. */
  masterOf(key: string): Promise<number>;
  /** Wait until every live node says the cluster is ok and every slot has a live master. */
  healthy(ms?: number): Promise<void>;
}

async function startCluster(): Promise<Cluster> {
  const args = [
    '--repl-diskless-sync-delay',
    '0',
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '1000',
    '--cluster-replica-validity-factor',
    '0',
  ];
  const nodes = await Promise.all(Array.from({ length: 6 }, () => RedisServer.start({ args })));
  execFileSync(
    CLI,
    ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'],
    { stdio: 'ignore' },
  );
  const cluster: Cluster = {
    nodes,
    seedUrl: `redis://127.0.0.1:${nodes[0]!.port}`,
    async masterOf(key) {
      for (const n of nodes) {
        if (n.child?.exitCode !== null || n.child?.signalCode !== null) continue;
        const slot = await info(n.port, ['CLUSTER', 'KEYSLOT', key]);
        const shards = await info(n.port, ['CLUSTER', 'SLOTS']);
        if (!slot || !shards) continue;
        const c = createClient({ socket: { port: n.port, host: '127.0.0.1' } });
        await c.connect();
        const slots = (await c.sendCommand(['CLUSTER', 'SLOTS'])) as Array<[number, number, [string, number]]>;
        c.destroy();
        const s = Number(slot);
        const range = slots.find(([a, b]) => s >= a && s <= b);
        if (range) return Number(range[2][1]);
      }
      throw new Error('no live node knows the slot');
    },
    async healthy(ms = 20000) {
      const until = Date.now() + ms;
      for (;;) {
        const live = nodes.filter((n) => n.child?.exitCode === null && n.child?.signalCode === null);
        const states = await Promise.all(live.map((n) => info(n.port, ['CLUSTER', 'INFO'])));
        if (states.every((s) => /cluster_state:ok/.test(s) && /cluster_slots_ok:16384/.test(s))) return;
        if (Date.now() > until) throw new Error('cluster did not become healthy');
        await sleep(100);
      }
    },
  };
  await cluster.healthy();
  return cluster;
}

let clusterP: Promise<Cluster> | undefined;
export function cluster(): Promise<Cluster> {
  return (clusterP ??= startCluster());
}

export interface Sentinels {
  name: string;
  master: RedisServer;
  replica: RedisServer;
  sentinels: RedisServer[];
  rootNodes: Array<{ host: string; port: number }>;
  /** The port the sentinels currently name as master. */
  masterPort(): Promise<number>;
}

async function startSentinels(): Promise<Sentinels> {
  const name = 'mymaster';
  // No diskless-sync delay, so the replica is in sync at once (and again after a failover).
  const master = await RedisServer.start({ args: ['--repl-diskless-sync-delay', '0'] });
  const replica = await RedisServer.start({
    args: ['--replicaof', '127.0.0.1', String(master.port), '--repl-diskless-sync-delay', '0'],
  });
  const config = `sentinel monitor ${name} 127.0.0.1 ${master.port} 2\nsentinel down-after-milliseconds ${name} 1000\nsentinel failover-timeout ${name} 3000\nsentinel parallel-syncs ${name} 1\n`;
  const sentinels = await Promise.all(Array.from({ length: 3 }, () => RedisServer.start({ config, sentinel: true })));
  const rootNodes = sentinels.map((s) => ({ host: '127.0.0.1', port: s.port }));
  const s: Sentinels = {
    name,
    master,
    replica,
    sentinels,
    rootNodes,
    async masterPort() {
      const r = await info(sentinels[0]!.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name]);
      return Number(r.split(',')[1]);
    },
  };
  // Wait until the replica is in sync and every sentinel knows the replica and the other sentinels.
  const until = Date.now() + 20000;
  for (;;) {
    const repl = await info(replica.port, ['INFO', 'replication']);
    const seen = await Promise.all(sentinels.map((x) => info(x.port, ['SENTINEL', 'MASTER', name])));
    if (
      /master_link_status:up/.test(repl) &&
      seen.every((t) => /num-other-sentinels,2/.test(t) && /num-slaves,1/.test(t))
    )
      break;
    if (Date.now() > until) throw new Error('sentinel group did not settle');
    await sleep(200);
  }
  return s;
}

let sentinelP: Promise<Sentinels> | undefined;
export function sentinelGroup(): Promise<Sentinels> {
  return (sentinelP ??= startSentinels());
}
