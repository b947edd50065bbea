/**
 * A connection manager: the configuration getConnection() connects with, the connections it handed out, and
 * where their failures are reported.
 */
import { inspect } from 'node:util';
import type { LegacyClient } from '../legacy';
import { isSessionConfig } from '../meta';
import { buildClientOptions } from '../options';
import { ErrorCodes } from '../errors';
import { maskMeta, redact, redactError, Secrets, showConnectionString } from '../secrets';
import { NoReplyError } from './reply-watch';
import { MAX_TIMER_MS } from '../timers';
import { topologyOf, type Topology } from '../topology';
import type { RedisClient } from './client';

/** What `onUnexpectedFailure` receives: the shape Sails' hooks read. */
export interface UnexpectedFailure extends Error {
  /** `E_REDIS_NO_REPLY` when the server stopped answering, else `E_REDIS_CONNECTION_LOST`. */
  code: string;
  /** 'error': the client reported an error; 'end': the connection to the server was lost. */
  failureType: 'error' | 'end';
  /** The connection concerned. Its `ready` event fires when the server is back. */
  connection: RedisClient | LegacyClient;
  /** What node-redis reported, secrets masked. */
  originalError?: Error;
}

export type FailureHandler = (err: UnexpectedFailure) => void;

/** What a manager is made from (createManager's inputs, `meta` already translated into `clientOptions`). */
export interface ManagerOptions {
  /** The Redis URL; kept private, shown masked. */
  connectionString: string;
  /** node-redis 6 client options translated from `meta` (lib/meta.ts). */
  clientOptions: Record<string, unknown>;
  /** The `meta` given to createManager, as given. */
  meta?: Record<string, unknown>;
  /** Told about failures of connections after they were handed out. */
  onUnexpectedFailure?: FailureHandler;
}

/** How long a machine call waits for Redis to answer anything before it gives up (`meta.commandTimeout`). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;

const MANAGER = Symbol('machinepack-redis-ts.manager');

/**
 * A connection manager: configuration plus the set of connections it has handed out. It holds the connection
 * string privately; `inspect`, `JSON.stringify` and `url` show it with the password masked.
 */
export class Manager {
  readonly #connectionString: string;
  readonly #clientOptions: Record<string, unknown>;
  /** The connections handed out and not yet released (node-redis 6 clients, or legacy v3-style ones). */
  readonly connections = new Set<RedisClient | LegacyClient>();
  readonly onUnexpectedFailure: FailureHandler | undefined;
  readonly #meta: Record<string, unknown> | undefined;
  /** This manager's secrets (passwords, TLS keys): masked in every message about it, gone with it. */
  readonly #secrets = new Secrets();
  destroyed = false;
  /** How long a machine call waits for a reply (`meta.commandTimeout`, ms). */
  readonly commandTimeout: number;
  /** One server, a Cluster (`meta.cluster`) or a Sentinel group (`meta.sentinel`). */
  readonly topology: Topology;
  /**
   * @internal `meta` is Sails' session config: this manager's connections are connect-redis's session store, which
   * nobody closes (Sails' session hook has no teardown), so its v3-style connections let the process exit when
   * idle (see open.ts, `unrefWhenIdle`).
   */
  readonly sessionStore: boolean;
  readonly [MANAGER] = true;

  constructor({ connectionString, clientOptions, meta, onUnexpectedFailure }: ManagerOptions) {
    this.#connectionString = connectionString;
    this.#clientOptions = clientOptions;
    this.#meta = meta;
    this.#secrets.addFrom(connectionString, { clientOptions, meta });
    this.onUnexpectedFailure = onUnexpectedFailure;
    this.topology = topologyOf(meta ?? {});
    this.sessionStore = meta !== undefined && isSessionConfig(meta);
    const t = meta?.commandTimeout;
    // Longer than a timer can wait (2^31 ms, ~24.8 days) is clamped to that, never "at once".
    this.commandTimeout = typeof t === 'number' && t > 0 ? Math.min(t, MAX_TIMER_MS) : DEFAULT_COMMAND_TIMEOUT_MS;
  }

  /** The connection string with its password masked (see `showConnectionString`). */
  get url(): string {
    return showConnectionString(this.#connectionString);
  }

  /** A copy of the `meta` given to createManager, with passwords and TLS keys masked (`***`). */
  get meta(): Record<string, unknown> | undefined {
    return maskMeta(this.#meta);
  }

  /** @internal Whether connections default to the v3-style (legacy) client. */
  get legacyMode(): boolean {
    return this.#meta?.legacyMode === true;
  }

  /** @internal Mask URL credentials and this manager's secrets in `text`. */
  redact(text: string): string {
    return redact(text, this.#secrets);
  }

  /** @internal Mask URL credentials and this manager's secrets in an error's messages (in place). */
  redactError<E>(err: E): E {
    return redactError(err, this.#secrets);
  }

  /** Connections handed out, as the original's `redisClients` array. */
  get redisClients(): Array<RedisClient | LegacyClient> {
    return [...this.connections];
  }

  /** @internal The full client options for a new connection. */
  clientOptions(legacy: boolean): ReturnType<typeof buildClientOptions> {
    return buildClientOptions(this.#connectionString, this.#clientOptions, legacy);
  }

  toJSON(): Record<string, unknown> {
    return { url: this.url, connections: this.connections.size, destroyed: this.destroyed };
  }

  [inspect.custom](): string {
    return `Manager { url: '${this.url}', connections: ${this.connections.size}, destroyed: ${this.destroyed} }`;
  }
}

export function isManager(value: unknown): value is Manager {
  return value instanceof Manager;
}

/** Tell the manager's `onUnexpectedFailure` (if any) that one of its connections failed after it was made. */
export function reportFailure(
  manager: Manager,
  client: RedisClient | LegacyClient,
  failureType: 'error' | 'end',
  original: Error | undefined,
  message: string,
): void {
  const handler = manager.onUnexpectedFailure;
  if (!handler) return;
  const err = new Error(manager.redact(message)) as UnexpectedFailure;
  err.code = original instanceof NoReplyError ? ErrorCodes.NO_REPLY : ErrorCodes.CONNECTION_LOST;
  err.failureType = failureType;
  err.connection = client;
  if (original) err.originalError = manager.redactError(original);
  try {
    handler(err);
  } catch (thrown) {
    // A throwing handler must not become an uncaught exception inside node-redis' event loop.
    process.emitWarning(`onUnexpectedFailure threw: ${manager.redact(String(thrown))}`);
  }
}
