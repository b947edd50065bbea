/**
 * machinepack-redis-ts: the machinepack-redis machines on node-redis 6, in TypeScript.
 *
 * - `Pack.<machine>(argins)`: through the `machine` runner (`.exec(cb)`, `.switch({...})`, `await`, `m(argins, cb)`).
 * - `Pack.promises.<machine>(argins)`: the same definitions as plain async functions.
 * - `Pack.redis`: node-redis itself.
 */
import * as redis from 'redis';
import { ErrorCodes } from './lib/errors';
import { createClient } from './lib/facade';
import { machines } from './lib/machines';
import { buildPromisePack, buildRunnerPack, type PromisePack, type RunnerPack } from './lib/runner';
import type { Machines } from './lib/machines';

const runnerPack = buildRunnerPack('machinepack-redis-ts', machines);

/** The same machines as typed async functions: success resolves with its output, any other exit rejects. */
export const promises: PromisePack<Machines> = buildPromisePack(machines);

export type Pack = RunnerPack<Machines> & {
  promises: PromisePack<Machines>;
  redis: typeof redis;
  /** The machine definitions (metadata and both faces), for tools and tests. */
  machines: Machines;
  /** A memis client: replicated collections (see the README). */
  createClient: typeof createClient;
};

const Pack = Object.assign(runnerPack, { promises, redis, machines, createClient }) as Pack;

export default Pack;
export { machines, redis, createClient };

// Every machine (runner face) as a named export too, so `import { getCachedValue } from 'machinepack-redis-ts'`
// works in ESM (Node finds these names in the compiled CommonJS) and `import Pack from` is fully typed where
// TypeScript types a CommonJS default import as the whole module (nodenext, node16 ESM).
export const createManager: Pack['createManager'] = runnerPack.createManager;
export const getConnection: Pack['getConnection'] = runnerPack.getConnection;
export const releaseConnection: Pack['releaseConnection'] = runnerPack.releaseConnection;
export const destroyManager: Pack['destroyManager'] = runnerPack.destroyManager;
export const cacheValue: Pack['cacheValue'] = runnerPack.cacheValue;
export const getCachedValue: Pack['getCachedValue'] = runnerPack.getCachedValue;
export const destroyCachedValues: Pack['destroyCachedValues'] = runnerPack.destroyCachedValues;
export const createConnectionUrl: Pack['createConnectionUrl'] = runnerPack.createConnectionUrl;
export const authenticate: Pack['authenticate'] = runnerPack.authenticate;
export const setItem: Pack['setItem'] = runnerPack.setItem;
export const deleteItem: Pack['deleteItem'] = runnerPack.deleteItem;
export const writeItems: Pack['writeItems'] = runnerPack.writeItems;
export const subscribeCollection: Pack['subscribeCollection'] = runnerPack.subscribeCollection;
export type {
  MemisClient,
  Database,
  Collection,
  ClientOptions,
  CollectionEvent,
  CollectionEvents,
  CollectionStatus,
  CollectionStats,
  StatusEvents,
  ClientEvents,
  RestoredInfo,
  ChangeInfo,
  Entry,
  SetOptions,
  DelOptions,
  Batch,
  ConflictError,
  EventSource,
  Listener,
} from './lib/facade-types';
export type { Replica, ChangeType, ReplicaStatus, ReplicaStats } from './lib/collections/replica';
export type { LegacyClient, LegacyMulti } from './lib/legacy';
export type { Manager, UnexpectedFailure, RedisClient } from './lib/connection';
export type { Connection, ErrorReport, BadConnectionReport } from './lib/shared';
export type { RunnerException, Deferred, SwitchHandlers } from './lib/runner';
export type { ExitException } from './lib/errors';
export { ErrorCodes };
// CommonJS callers: `require('machinepack-redis-ts')` is the pack itself, as with the original.
module.exports = Object.defineProperty(
  Object.assign(Pack, { default: Pack, promises, machines, redis, createClient, ErrorCodes }),
  '__esModule',
  { value: true },
);
