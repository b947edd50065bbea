/**
 * Beyond one server: connections to a Redis Cluster (`meta.cluster`) or a Sentinel group (`meta.sentinel`).
 *
 * Both are node-redis 6 objects (`createCluster`, `createSentinel`) with the command methods the machines use,
 * so every machine accepts them. Credentials and TLS from the connection string and `meta` apply to every node.
 */
import { createCluster, createSentinel } from 'redis';
import { invalidInput } from './errors';
import { describeValue, isDictionary } from './options';

export type Topology =
  | { kind: 'single' }
  | { kind: 'cluster'; rootNodes?: Array<Record<string, unknown>>; options: Record<string, unknown> }
  | {
      kind: 'sentinel';
      name: string;
      sentinelRootNodes: Array<{ host: string; port: number }>;
      options: Record<string, unknown>;
    };

/** Read `meta.cluster` / `meta.sentinel`. */
export function topologyOf(meta: Record<string, unknown>): Topology {
  const { cluster, sentinel } = meta;
  if (cluster !== undefined && cluster !== false && sentinel !== undefined)
    throw invalidInput('Give `meta.cluster` or `meta.sentinel`, not both.');
  if (cluster === true) return { kind: 'cluster', options: {} };
  if (cluster !== undefined && cluster !== false) {
    if (!isDictionary(cluster))
      throw invalidInput(
        `\`meta.cluster\` must be true or a dictionary like { rootNodes: [{ url }] } (got ${describeValue(cluster)}).`,
      );
    const { rootNodes, ...options } = cluster;
    if (
      rootNodes !== undefined &&
      (!Array.isArray(rootNodes) || rootNodes.length === 0 || !rootNodes.every(isDictionary))
    ) {
      throw invalidInput(
        '`meta.cluster.rootNodes` must be a non-empty array of node options, e.g. [{ url: "redis://10.0.0.1:7000" }].',
      );
    }
    return { kind: 'cluster', rootNodes: rootNodes as Array<Record<string, unknown>> | undefined, options };
  }
  if (sentinel !== undefined) {
    if (!isDictionary(sentinel))
      throw invalidInput(
        `\`meta.sentinel\` must be a dictionary like { name, sentinelRootNodes } (got ${describeValue(sentinel)}).`,
      );
    const { name, sentinelRootNodes, ...options } = sentinel;
    if (typeof name !== 'string' || name === '')
      throw invalidInput('`meta.sentinel.name` must be the name of the monitored master.');
    if (!Array.isArray(sentinelRootNodes) || sentinelRootNodes.length === 0)
      throw invalidInput('`meta.sentinel.sentinelRootNodes` must be a non-empty array of { host, port }.');
    return {
      kind: 'sentinel',
      name,
      sentinelRootNodes: sentinelRootNodes as Array<{ host: string; port: number }>,
      options,
    };
  }
  return { kind: 'single' };
}

/** Node options shared by every node: credentials and TLS from the URL, then the client options. */
function nodeDefaults(clientOptions: Record<string, unknown>): {
  defaults: Record<string, unknown>;
  seed: Record<string, unknown>;
} {
  const { url, database: _database, ...rest } = clientOptions;
  void _database; // a cluster has only database 0; a Sentinel master keeps the URL's through `database`
  const defaults: Record<string, unknown> = {
    ...rest,
    socket: { ...((rest.socket as Record<string, unknown>) ?? {}) },
  };
  const seed: Record<string, unknown> = {};
  if (typeof url === 'string') {
    const u = new URL(url);
    if (u.password && defaults.password === undefined) defaults.password = decodeURIComponent(u.password);
    if (u.username && defaults.username === undefined) defaults.username = decodeURIComponent(u.username);
    if (u.protocol === 'rediss:') (defaults.socket as Record<string, unknown>).tls = true;
    seed.socket = { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) };
  }
  return { defaults, seed };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ScaledClient = any;

/** A cluster or Sentinel client (not yet connected) for these client options. */
export function createScaled(
  topology: Exclude<Topology, { kind: 'single' }>,
  clientOptions: Record<string, unknown>,
): ScaledClient {
  const { defaults, seed } = nodeDefaults(clientOptions);
  if (topology.kind === 'cluster') {
    const rootNodes = topology.rootNodes ?? [seed];
    // The cluster object has its own command options (the node clients' are not used for routed commands).
    return createCluster({
      commandOptions: defaults.commandOptions,
      ...topology.options,
      rootNodes,
      defaults,
    } as never);
  }
  const database = clientOptions.database;
  return createSentinel({
    ...topology.options,
    name: topology.name,
    sentinelRootNodes: topology.sentinelRootNodes,
    nodeClientOptions: { ...defaults, ...(database !== undefined ? { database } : {}) },
    sentinelClientOptions: {
      socket: { reconnectStrategy: (defaults.socket as Record<string, unknown>).reconnectStrategy },
      ...((topology.options.sentinelClientOptions as Record<string, unknown>) ?? {}),
    },
  } as never);
}
