/**
 * Opening connections: one connect path for a single server, a Cluster and a Sentinel group, bounded by the
 * caller's timeout, and the reset of a connection whose server stopped answering.
 */
import { inspect } from 'node:util';
import { createClient, DisconnectsClientError } from 'redis';
import { coded, ErrorCodes, WarningCodes } from '../errors';
import { LegacyClient } from '../legacy';
import { timerDelay } from '../timers';
import { createScaled } from '../topology';
import { reconnectStrategy } from './backoff';
import type { RedisClient } from './client';
import { classify } from './classify';
import { reportFailure, type Manager } from './manager';
import { NoReplyError, ReplyWatch } from './reply-watch';
import { register, releaseConnection, type ConnectionState } from './registry';
import { claimNextSocket, claimSocketOf, type Traffic } from './traffic';

/**
 * Open a connection for `manager`. Settles within `timeoutMs`: with the client (ready for commands), or with an
 * Error whose `code` says why; a client that failed is destroyed, leaving no socket, timer or retry loop.
 * A single server, a Cluster or a Sentinel group alike; `legacy` wraps a single-server client in the v3 shim.
 */
export function openConnection(
  manager: Manager,
  timeoutMs: number,
  legacy = false,
): Promise<RedisClient | LegacyClient> {
  if (manager.destroyed) return Promise.reject(managerDestroyed());
  if (legacy && manager.topology.kind !== 'single') {
    return Promise.reject(
      coded(
        ErrorCodes.UNSUPPORTED,
        '`legacyMode` connections are single-server only; not available with meta.cluster or meta.sentinel.',
      ),
    );
  }
  return establish(manager, timeoutMs, legacy, false).catch((err: Error & { code?: string }) => {
    // v3 connected (with a warning) when given a password the server does not need; RESP2 refuses it. Do as v3.
    if (err.code !== ErrorCodes.PASSWORD_NOT_NEEDED || manager.destroyed) throw err;
    process.emitWarning(
      'machinepack-redis-ts: a password was given but the Redis server has none; connecting without it.',
      { code: WarningCodes.PASSWORD_NOT_NEEDED },
    );
    return establish(manager, timeoutMs, legacy, true);
  });
}

function managerDestroyed(): Error {
  return coded(
    ErrorCodes.MANAGER_DESTROYED,
    'The manager was destroyed (destroyManager) before or while connecting; create a new one with createManager().',
  );
}

/** Connects in progress, per manager: destroying the manager aborts each (its client is destroyed at once). */
const opening = new WeakMap<Manager, Set<() => void>>();

/**
 * Destroy a manager: no connection can be made from it afterwards, connects in progress settle at once with
 * `E_MANAGER_DESTROYED` (leaving nothing open), and every connection it handed out is released.
 */
export function destroyManager(manager: Manager): void {
  manager.destroyed = true;
  for (const abort of [...(opening.get(manager) ?? [])]) abort();
  opening.delete(manager);
  for (const connection of [...manager.connections]) releaseConnection(connection);
}

function establish(
  manager: Manager,
  timeoutMs: number,
  legacy: boolean,
  dropPassword: boolean,
): Promise<RedisClient | LegacyClient> {
  const topology = manager.topology;
  const what = topology.kind === 'single' ? 'Redis' : `the Redis ${topology.kind}`;
  return new Promise((resolve, reject) => {
    let ready = false;
    let settled = false;
    let lastError: Error | undefined;
    let down = false;
    let handle: RedisClient | LegacyClient;
    const options = manager.clientOptions(legacy) as Record<string, unknown>;
    if (dropPassword) {
      delete options.password;
      if (typeof options.url === 'string') options.url = dropUrlPassword(options.url);
    }
    const socket = options.socket as Record<string, unknown>;
    socket.reconnectStrategy = reconnectStrategy(() => ready, socket.reconnectStrategy);

    let client: RedisClient;
    try {
      client = (topology.kind === 'single' ? createClient(options) : createScaled(topology, options)) as RedisClient;
    } catch (err) {
      reject(
        coded(
          ErrorCodes.INVALID_CLIENT_OPTIONS,
          `Invalid Redis client options: ${manager.redact((err as Error).message)}`,
        ),
      );
      return;
    }
    let attempts = opening.get(manager);
    if (!attempts) opening.set(manager, (attempts = new Set()));
    const inProgress = attempts;
    const abort = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      inProgress.delete(abort);
      void Promise.resolve(client.destroy()).catch(() => undefined);
      reject(managerDestroyed());
    };
    inProgress.add(abort);
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      inProgress.delete(abort);
      void Promise.resolve(client.destroy()).catch(() => undefined);
      reject(
        coded(
          ErrorCodes.CONNECTION_TIMED_OUT,
          `Took too long to connect to ${what} at ${manager.url} (more than ${timeoutMs} ms). ` +
            'Change the allowed time with the `timeout` input of getConnection.' +
            (lastError ? ` Last error: ${manager.redact(lastError.message)}` : ''),
        ),
      );
    }, timerDelay(timeoutMs));

    const onError = (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      if (!ready) lastError = e;
      // node-redis reports our own destroy() (the reset of a connection whose server stopped answering) as an
      // error "Disconnects client": it is the library's reset, not something Redis did.
      else if (e instanceof DisconnectsClientError)
        reportFailure(
          manager,
          handle,
          'error',
          e,
          `This library reset the connection to ${what} (closed it on purpose); it reconnects by itself.`,
        );
      else reportFailure(manager, handle, 'error', e, `Error emitted from ${what}: ${manager.redact(e.message)}`);
    };
    // node-redis 6 emits no `end` on an unexpected drop (v3 did). The first `reconnecting` of an outage is where
    // the connection was lost: report it as 'end', as the original did, so `once('ready')` can follow.
    const onDown = () => {
      if (!ready || down) return;
      down = true;
      reportFailure(manager, handle, 'end', lastError, `${what} connection lost; reconnecting in the background.`);
    };
    const onUp = () => (down = false);
    // The bytes of a single server's socket are the reply watch's progress (traffic.ts says how they are seen).
    const traffic: Traffic | undefined = topology.kind === 'single' ? { chunks: 0 } : undefined;
    if (traffic) client.on('reconnecting', () => claimNextSocket(traffic));
    client.on('error', onError).on('reconnecting', onDown).on('ready', onUp);
    if (topology.kind !== 'single') {
      // Cluster nodes and Sentinel-managed clients report through their own events.
      client
        .on('node-error', onError)
        .on('client-error', onError)
        .on('node-reconnecting', onDown)
        .on('node-ready', onUp);
    }

    (traffic ? claimSocketOf(traffic, () => client.connect()) : client.connect()).then(
      () => {
        ready = true;
        if (settled) return void Promise.resolve(client.destroy()).catch(() => undefined);
        settled = true;
        clearTimeout(timer);
        inProgress.delete(abort);
        if (manager.destroyed) {
          void Promise.resolve(client.destroy()).catch(() => undefined);
          return reject(managerDestroyed());
        }
        handle = legacy ? new LegacyClient(client, legacyHooks(manager, timeoutMs)) : client;
        const state: ConnectionState = {
          manager,
          released: false,
          client,
          watch: new ReplyWatch(
            manager.commandTimeout,
            () => resetHung(state, handle),
            topology.kind !== 'single',
            traffic,
          ),
          kind: topology.kind,
          traffic,
        };
        register(handle, state);
        if (legacy && topology.kind === 'single' && manager.sessionStore) unrefWhenIdle(state);
        hideSecrets(client);
        if (topology.kind === 'single') watchHandshake(client, state, handle);
        resolve(handle);
      },
      (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        inProgress.delete(abort);
        void Promise.resolve(client.destroy()).catch(() => undefined);
        reject(classify(lastError ?? err, manager));
      },
    );
  });
}

function dropUrlPassword(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    if (!u.username) return url.replace(/\/\/[^@/]*@/, '//');
    return u.toString();
  } catch {
    return url;
  }
}

function legacyHooks(manager: Manager, timeoutMs: number) {
  return {
    release: (c: LegacyClient) => void releaseConnection(c),
    duplicate: async () => {
      if (manager.destroyed) throw managerDestroyed();
      return (await openConnection(manager, timeoutMs, true)) as LegacyClient;
    },
  };
}

/** node-redis keeps its options in private fields; still, make `inspect` of a connection say nothing it holds. */
function hideSecrets(client: RedisClient): void {
  Object.defineProperty(client, inspect.custom, {
    value: () => `RedisConnection { ready: ${client.isReady} }`,
    enumerable: false,
  });
}

/**
 * Sails' session hook hands its connection to connect-redis and never closes it, so an app using it did not exit
 * after `sails.lower()` (machinepack-redis 2.0.7 did the same). Such a connection (v3-style, for a session config:
 * every command it sends goes through the reply watch) keeps the process alive only while a command of it waits
 * for its reply: its socket is unref'd when idle and ref'd while busy (node-redis carries this across reconnects).
 * A subscription keeps it ref'd for good (`keepProcessAlive`). Other connections are left as node-redis makes
 * them: a modern client's commands are not all seen here, and a subscriber must keep a process alive.
 */
function unrefWhenIdle(state: ConnectionState): void {
  const client = state.client;
  client.unref();
  state.watch.onBusy = (busy) => (busy ? client.ref() : client.unref());
}

/**
 * A reconnect whose socket connects but whose handshake never answers (a black-holed path: the TCP connection is
 * accepted and nothing comes back) would leave the client open and never ready, for good: node-redis bounds only
 * the socket connect, and commands are refused while not ready, so the reply watch never sees one hang. So a
 * (re)connect that is not ready within the command timeout is reset like a hung connection.
 */
function watchHandshake(client: RedisClient, state: ConnectionState, handle: RedisClient | LegacyClient): void {
  let timer: NodeJS.Timeout | undefined;
  client.on('connect', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!state.released && client.isOpen && !client.isReady) resetHung(state, handle);
    }, timerDelay(state.watch.timeoutMs));
    timer.unref();
  });
  client.on('ready', () => clearTimeout(timer));
  client.on('end', () => clearTimeout(timer));
}

/** The reset, when a connection's server stopped answering: reject what waits, reconnect in the background. */
function resetHung(state: ConnectionState, handle: RedisClient | LegacyClient): void {
  if (state.released) return;
  reportFailure(
    state.manager,
    handle,
    'error',
    new NoReplyError(state.watch.timeoutMs),
    `Redis did not answer within ${state.watch.timeoutMs} ms${state.kind === 'single' ? '; resetting the connection' : ''}.`,
  );
  if (state.kind !== 'single') return; // a Cluster or Sentinel client recovers its nodes itself
  void Promise.resolve(state.client.destroy()).catch(() => undefined);
  if (state.released) return;
  const reconnect = () => state.client.connect();
  (state.traffic ? claimSocketOf(state.traffic, reconnect) : reconnect()).catch(() => undefined);
}
