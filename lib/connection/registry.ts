/**
 * The connection registry: what we know about each connection getConnection() made, kept beside it in a WeakMap,
 * so any machine can tell ours from anything else, and a released one from a live one.
 */
import { DisconnectsClientError } from 'redis';
import { coded, ErrorCodes } from '../errors';
import type { LegacyClient } from '../legacy';
import { redactError } from '../secrets';
import type { Topology } from '../topology';
import type { RedisClient } from './client';
import type { Manager } from './manager';
import { NoReplyError, type ReplyWatch } from './reply-watch';
import type { Traffic } from './traffic';

export interface ConnectionState {
  manager: Manager;
  released: boolean;
  /** The node-redis 6 client (the handle itself, or what a legacy handle wraps). */
  client: RedisClient;
  watch: ReplyWatch;
  kind: Topology['kind'];
  /** Chunks received on a single server's socket (the reply watch's progress); see traffic.ts. */
  traffic?: Traffic;
}

const states = new WeakMap<object, ConnectionState>();

/** Record a new connection: `handle` is what the caller holds (the client, or the legacy wrapper around it). */
export function register(handle: RedisClient | LegacyClient, state: ConnectionState): void {
  states.set(handle, state);
  if (handle !== state.client) states.set(state.client, state);
  state.manager.connections.add(handle);
}

/** Run a command of a machine under its connection's reply bound. */
export function bounded<T>(client: RedisClient, p: Promise<T>): Promise<T> {
  const state = states.get(client);
  return state ? state.watch.track(p) : p;
}

/**
 * `bounded(client, p).then(onValue, onError)` in one reaction: what the hot machines (getCachedValue,
 * cacheValue) use, so a call holds one promise of ours per command instead of two.
 */
export function boundedThen<T, R>(
  client: RedisClient,
  p: Promise<T>,
  onValue: (v: T) => R | PromiseLike<R>,
  onError: (e: unknown) => R | PromiseLike<R>,
): Promise<R> {
  const state = states.get(client);
  return state ? state.watch.then(p, onValue, onError) : p.then(onValue, onError);
}

/**
 * For the hot machines: send `args` as one plain command. On a single server this is node-redis's `sendCommand`
 * (no command builder, no argument parser, no async wrapper: the largest share of a GET in node-redis's own
 * profile); a Cluster or Sentinel client routes by key, so it gets `viaBuilder()` (its typed command method).
 */
export function sendPlain<T>(client: RedisClient, args: string[], viaBuilder: () => Promise<T>): Promise<T> {
  return states.get(client)?.kind === 'single' ? (client.sendCommand(args) as Promise<T>) : viaBuilder();
}

/**
 * From now on, `client` keeps the process alive even when idle (it subscribed): undoes `unrefWhenIdle` (open.ts)
 * for good. Nothing for other connections.
 */
export function keepProcessAlive(client: RedisClient): void {
  const watch = states.get(client)?.watch;
  if (!watch?.onBusy) return;
  watch.onBusy = undefined;
  client.ref();
}

/** The manager a live connection belongs to (undefined: not ours, or released). */
export function managerOf(value: unknown): Manager | undefined {
  const state = typeof value === 'object' && value !== null ? states.get(value) : undefined;
  return state && !state.released ? state.manager : undefined;
}

/** Why `value` cannot be used as a connection, or undefined when it can. */
export function connectionProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return 'The connection must be a connection from getConnection().';
  const state = states.get(value);
  if (!state) return 'This is not a connection made by getConnection() of this pack.';
  if (state.released) return 'This connection was already released.';
  return undefined;
}

/**
 * What the hot machines (cacheValue, getCachedValue) look up once per call: the state of a live connection (its
 * client, kind and reply watch), or undefined when `value` is not one of ours or was released.
 */
export function liveState(value: unknown): ConnectionState | undefined {
  const state = typeof value === 'object' && value !== null ? states.get(value) : undefined;
  return state && !state.released ? state : undefined;
}

/** The live connection, or undefined when `value` is not one of ours or was released. */
export function liveConnection(value: unknown): RedisClient | undefined {
  const state = typeof value === 'object' && value !== null ? states.get(value) : undefined;
  return state && !state.released ? state.client : undefined;
}

/** Which kind of connection this is: one server, a Cluster or a Sentinel group (undefined: not ours). */
export function connectionKind(value: unknown): Topology['kind'] | undefined {
  return typeof value === 'object' && value !== null ? states.get(value)?.kind : undefined;
}

/** Release a connection: mark it, forget it, close its socket at once. Returns false if it was not live. */
export function releaseConnection(value: unknown): boolean {
  const state = typeof value === 'object' && value !== null ? states.get(value) : undefined;
  if (!state || state.released) return false;
  state.released = true;
  state.manager.connections.delete(value as RedisClient | LegacyClient);
  state.watch.stop();
  const client = state.client;
  void Promise.resolve(client.destroy()).catch(() => undefined);
  // node-redis's destroy() cannot reach a socket that is still connecting (a reconnect under way, such as the reset
  // of a hung connection in this very turn): once connected, that socket ran its handshake on the closed client
  // and kept the process alive for good. Close the client again when it connects.
  if (state.kind === 'single')
    client.once(
      'connect',
      () =>
        void Promise.resolve()
          .then(() => client.destroy())
          .catch(() => undefined),
    );
  return true;
}

/** The `badConnection` report for a value that is not a live connection, or for a connection-level error. */
export function badConnectionReport(reason: string | Error, connection?: unknown): { error: Error } {
  if (typeof reason === 'string') return { error: coded(ErrorCodes.BAD_CONNECTION, reason) };
  const state =
    connection !== undefined && typeof connection === 'object' && connection !== null
      ? states.get(connection)
      : undefined;
  if (state && reason instanceof DisconnectsClientError && Date.now() - state.watch.resetAt < 1000) {
    return { error: new NoReplyError(state.watch.timeoutMs) };
  }
  const masked = state ? state.manager.redactError(reason) : redactError(reason);
  return {
    error: coded(ErrorCodes.BAD_CONNECTION, `The Redis connection is not usable: ${masked.message}`, {
      originalError: masked,
    }),
  };
}
