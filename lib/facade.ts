/**
 * The memis-style facade: `createClient(...).database('region-nl').collection('artists')`.
 *
 * It talks to Redis only through the machines (their promise face): createManager, getConnection, setItem,
 * deleteItem, subscribeCollection, destroyManager. One command connection and one subscriber connection per
 * client serve all of its collections.
 */
import { debuglog } from 'node:util';
import type { Manager, UnexpectedFailure } from './connection';
import type { Replica } from './collections/replica';
import { assertPlainObject, ifRevisionArg, keyName, ttlMs, type WriteOperation } from './collections/codec';
import { resolveClientArgs } from './client-args';
import { Emitter } from './emitter';
import { coded, ErrorCodes, invalidInput, type ErrorCode } from './errors';
import type {
  Batch,
  ClientEvents,
  ConflictError,
  DelOptions,
  SetOptions,
  ClientOptions,
  Collection,
  CollectionEvent,
  CollectionEvents,
  CollectionStats,
  CollectionStatus,
  Database,
  Entry,
  StatusEvents,
  MemisClient,
} from './facade-types';
import { timerDelay } from './collections/expiry-heap';
import { machines } from './machines';
import { connectionStringProblem, describeValue, isDictionary } from './options';
import { redact } from './secrets';
import type { Connection } from './shared';
import { isWellFormed } from './values';

const { createManager, getConnection, setItem, deleteItem, writeItems, subscribeCollection, destroyManager } =
  Object.fromEntries(Object.entries(machines).map(([k, m]) => [k, m.call])) as {
    [K in keyof typeof machines]: (typeof machines)[K]['call'];
  };

export type {
  ClientOptions,
  Collection,
  CollectionEvent,
  CollectionStats,
  CollectionStatus,
  Database,
  MemisClient,
} from './facade-types';

/** The machines the facade calls. */
type FacadeMachine =
  | 'createManager'
  | 'getConnection'
  | 'setItem'
  | 'deleteItem'
  | 'writeItems'
  | 'subscribeCollection'
  | 'destroyManager';
/** The exits they can take besides `success`: each must have a code in EXIT_CODES (a compile error if not). */
type FacadeExit = {
  [K in FacadeMachine]: Exclude<keyof (typeof machines)[K]['def']['exits'], 'success'>;
}[FacadeMachine];
/** The code of the facade's error for each machine exit. */
const EXIT_CODES: Record<FacadeExit, ErrorCode> = {
  badConnection: ErrorCodes.BAD_CONNECTION,
  failed: ErrorCodes.FAILED,
  malformed: ErrorCodes.MALFORMED,
  conflict: ErrorCodes.CONFLICT,
};

/**
 * Turn a machine's rejection into an Error that says what the facade was doing. A non-success exit is recognised by
 * its shape (`name: 'Exception'` and an `exit`), not by a class: that shape is the `machine` runner's contract, which
 * the promise face copies (lib/errors.ts `exitError`), and callers of either face test for it the same way.
 */
function failure(err: unknown, what: string, connecting = false, more = ''): Error {
  const e = err as { exit?: string; raw?: { error?: Error }; name?: string };
  if (e && e.exit && e.name === 'Exception') {
    const cause = e.raw?.error;
    // Failing to connect (refused, timed out, wrong password) is not Redis refusing the write.
    const unreachable = connecting || e.exit === 'badConnection';
    const reason = unreachable ? 'Redis is unreachable' : 'Redis refused it';
    // Sent, then the connection failed or Redis stopped answering: whether Redis ran the command is not known.
    const unknown =
      !connecting && e.exit === 'badConnection'
        ? ' The outcome is unknown: the command was sent and may have been carried out (check with entry() or the ' +
          'revision, or retry a write with ifRevision).'
        : '';
    return coded(
      unreachable ? ErrorCodes.BAD_CONNECTION : (EXIT_CODES[e.exit as FacadeExit] ?? ErrorCodes.FAILED),
      `Could not ${what}: ${reason}${cause ? ` (${redact(cause.message)})` : ''}.${unknown}${more}`,
      { cause: err },
    );
  }
  return err as Error;
}

/**
 * A `failed` exit whose cause is Redis's `NOPERM` (the ACL lacks a command, a key or the channel): the same
 * refusal every time until the ACL changes.
 */
function isPermissionRefusal(err: unknown): boolean {
  return redisReply(err)?.startsWith('NOPERM ') === true;
}

/**
 * Redis's own error reply behind a `failed` exit (it starts with its code), not our message around it, which names
 * the collection (a collection called "NOPERM" is no refusal); undefined for anything else.
 */
function redisReply(err: unknown): string | undefined {
  const e = err as {
    exit?: string;
    name?: string;
    raw?: { error?: { originalError?: { message?: unknown } } };
  };
  if (!e || e.name !== 'Exception' || e.exit !== 'failed') return undefined;
  const reply = e.raw?.error?.originalError?.message;
  return typeof reply === 'string' ? reply : undefined;
}

/** A caller's mistake refused by a machine (`E_INVALID_INPUT`, `E_INVALID_ARGINS`): retrying cannot help. */
function isUsageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === ErrorCodes.INVALID_INPUT || code === ErrorCodes.INVALID_ARGINS;
}

/** The error of a write whose condition did not hold (a `conflict` exit): `code` E_CONFLICT, `key`, `revision`. */
function conflictError(err: unknown, what: string, key?: string): ConflictError | undefined {
  const e = err as { exit?: string; name?: string; raw?: { revision?: number; key?: string } };
  if (!e || e.name !== 'Exception' || e.exit !== 'conflict') return undefined;
  const revision = Number(e.raw?.revision) || 0;
  const k = e.raw?.key ?? key ?? '';
  return coded(
    ErrorCodes.CONFLICT,
    `Could not ${what}: the item ${keyName(k)} ${revision === 0 ? 'does not exist' : `is at revision ${revision}`}, not the revision ifRevision asked for; nothing was written.`,
    { key: k, revision },
  ) as ConflictError;
}

/**
 * The options of a write: `set`'s third argument (a TTL in seconds, or `{ ttl, ifRevision }`) or `del`'s. Checked
 * before anything is sent, naming the key and the option.
 */
function writeOptions(
  options: unknown,
  key: string,
  names: readonly string[],
  what: string,
): { ttl?: number; ifRevision?: number } {
  if (options === undefined || options === null) return {};
  if (names.includes('ttl') && typeof options === 'number') {
    ttlMs(options, key);
    return { ttl: options };
  }
  if (!isDictionary(options))
    throw invalidInput(
      `Item ${keyName(key)}: the options of ${what} must be an object (got ${describeValue(options)}).`,
    );
  for (const name of Object.keys(options))
    if (!names.includes(name))
      throw invalidInput(
        `Item ${keyName(key)}: unknown option \`${name}\` for ${what} (it takes ${names.map((n) => `\`${n}\``).join(', ')}).`,
      );
  // Read once (a getter may throw, or answer differently the second time).
  const read: { ttl?: number; ifRevision?: number } = {};
  for (const name of names) {
    let value: unknown;
    try {
      value = options[name];
    } catch (err) {
      throw invalidInput(
        `Item ${keyName(key)}: reading the option \`${name}\` of ${what} threw (${String((err as Error)?.message ?? err)}).`,
      );
    }
    if (value !== undefined) read[name as 'ttl' | 'ifRevision'] = value as number;
  }
  ttlMs(read.ttl, key);
  ifRevisionArg(read.ifRevision, key);
  return read;
}

/** How long quit() waits for the unsubscribe replies before it closes the connections (ms). */
const QUIT_GRACE_MS = 100;

/** A facade call that failed because the client quit while it was in flight (not because Redis failed). */
function quitFirst(what: string): Error {
  return coded(ErrorCodes.CLIENT_QUIT, `Could not ${what}: the client quit (quit()) while it was in flight.`);
}

/** Every failure an outage folds into its one `error` event, for debugging: `NODE_DEBUG=machinepack-redis-ts`. */
const debug = debuglog('machinepack-redis-ts');

/** An outage in progress: since when, and how many failures it has folded. */
interface Outage {
  since: number;
  failures: number;
  /** The last subscription failure came from a Redis that answered (LOADING, BUSY…): its connections are up. */
  reachable: boolean;
  /** A probe is checking that Redis serves again (it may be up but still LOADING its data). */
  probing: boolean;
  /** Its `error` event was emitted: a drop that is back within `BLIP_GRACE_MS` is never announced. */
  announced: boolean;
  /** Announces it at once (set while its grace runs). */
  announce?: () => void;
}

/**
 * How long (ms) a lost connection may take to come back before the loss is announced as an outage: a blip (a
 * pub/sub connection cut and reconnected within milliseconds) is counted in the debug log, not an `error` event.
 */
export const BLIP_GRACE_MS = 250;

/** How long a probe waits between PINGs while Redis answers that it cannot serve yet (LOADING, BUSY). */
const PROBE_INTERVAL_MS = 100;

/** A reply saying Redis is up but cannot serve commands yet: loading its data set, or busy with a script. */
function notServingYet(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN)\b/.test(message);
}

/**
 * The wait (ms) before the next subscribe attempt: drawn uniformly from `[retryDelay / 2, retryDelay)` so that a
 * fleet of clients that failed together does not retry in lock-step.
 */
export function subscribeRetryDelay(retryDelay: number, random: () => number = Math.random): number {
  const r = random();
  const half = retryDelay / 2;
  return Math.floor(half + (r >= 0 && r < 1 ? r : 0) * half);
}

/** Codes of trouble that is an effect of an outage in progress (a copy that cannot catch up, a call cut off). */
const OUTAGE_EFFECTS: ReadonlySet<string> = new Set([
  ErrorCodes.CATCH_UP_FAILED,
  ErrorCodes.BAD_CONNECTION,
  ErrorCodes.NO_REPLY,
  ErrorCodes.CONNECTION_LOST,
]);

/** A promise that knows whether anyone asked for its outcome (see `MemisClient.settle`). */
class ObservedPromise<R> extends Promise<R> {
  observed = false;
  // Derived promises (then/catch/finally) are plain ones.
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }
  override then<A = R, B = never>(
    onFulfilled?: ((value: R) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.observed = true;
    return super.then(onFulfilled, onRejected);
  }
}

/** The client behind the `MemisClient` interface. */
export class FacadeClient extends Emitter<ClientEvents> implements MemisClient {
  protected readonly eventNames = ['error', 'restored'] as const;
  protected readonly emitterKind = 'client';
  /** The outage in progress (announced by one `error` event; `restored` ends it), if any. */
  #outage: Outage | undefined;
  /** The connections lost in the current outage and not ready again yet. */
  readonly #down = new Set<object>();
  /**
   * The subscribe loops that reported a failure to connect and have not connected (or given up) since: while any
   * waits, the outage they opened (or joined) cannot end.
   */
  readonly #waiting = new Set<object>();
  /** The server's address, password masked (known once the manager exists). */
  #address = '';
  readonly #connectionString: string;
  readonly #meta: Record<string, unknown>;
  readonly #options: { syncInterval: number; connectTimeout: number; retryDelay: number };
  #manager: Promise<Manager> | undefined;
  #command: Promise<Connection> | undefined;
  #subscriber: Promise<Connection> | undefined;
  readonly #databases = new Map<string, FacadeDatabase>();
  /** @internal */
  readonly collections = new Set<FacadeCollection<object>>();
  #quit = false;

  constructor(
    connectionString: string,
    meta: Record<string, unknown>,
    options: Pick<ClientOptions, 'syncInterval' | 'connectTimeout' | 'retryDelay'> = {},
  ) {
    super();
    this.#connectionString = connectionString;
    this.#meta = meta;
    this.#options = {
      syncInterval: options.syncInterval ?? 1000,
      connectTimeout: options.connectTimeout ?? 5000,
      retryDelay: options.retryDelay ?? 1000,
    };
  }

  /** A database: a namespace of collections. */
  database(name: string): Database {
    if (typeof name !== 'string' || name === '')
      throw new TypeError('database(name): name must be a non-empty string.');
    if (!isWellFormed(name))
      throw new TypeError(`database(name): the name ${JSON.stringify(name)} is not well-formed Unicode.`);
    let db = this.#databases.get(name);
    if (!db) this.#databases.set(name, (db = new FacadeDatabase(this, name)));
    return db;
  }

  /** Close every subscription and connection. Pending subscriptions reject; nothing keeps running. */
  async quit(): Promise<void> {
    if (this.#quit) return;
    this.#quit = true;
    this.#outage = undefined;
    this.#down.clear();
    this.#waiting.clear();
    // Unsubscribing tells Redis; on a network that swallows bytes its replies never come (they would wait for
    // commandTimeout): wait for them at most QUIT_GRACE_MS, then destroy the connections, which fails whatever is
    // still in flight (E_CLIENT_QUIT) and leaves nothing open.
    const unsubscribed = Promise.all([...this.collections].map((c) => c.unsubscribe().catch(() => undefined)));
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([unsubscribed, new Promise((r) => (grace = setTimeout(r, QUIT_GRACE_MS)))]);
    clearTimeout(grace);
    const manager = await this.#manager?.catch(() => undefined);
    if (manager) await destroyManager({ manager });
  }

  get closed(): boolean {
    return this.#quit;
  }

  /**
   * @internal A promise for the caller that never becomes an unhandled rejection: if nobody has called its
   * `then`/`catch`/`finally` (or awaited it) by the turn after it rejects, the error goes to `report` instead.
   */
  settle<R>(work: Promise<R>): Promise<R> {
    const out = new ObservedPromise<R>((resolve, reject) => work.then(resolve, reject));
    // Marks `out` handled for Node without counting as the caller's.
    Promise.prototype.then.call(out, undefined, (err: unknown) => {
      setImmediate(() => {
        if (!out.observed) this.report(err instanceof Error ? err : new Error(String(err)));
      });
    });
    return out;
  }

  /** @internal Report trouble: as an `error` event when someone listens, else ignored (never a crash). */
  report(err: Error): void {
    this.emit('error', err);
  }

  /**
   * @internal Trouble of a collection (a catch-up that failed, a subscription that could not load): while an
   * outage is in progress it is one of its effects, counted and logged for debugging, not another `error` event.
   * Nothing a caller awaits comes here: `set`/`del` reject their own promises.
   */
  reportTrouble(err: Error): void {
    const code = (err as { code?: unknown }).code;
    if (this.#outage && typeof code === 'string' && OUTAGE_EFFECTS.has(code)) {
      this.#outage.failures++;
      debug('outage of %s continues: %s', this.#address, err.message);
      return;
    }
    this.report(err);
  }

  /**
   * A connection of this client failed (onUnexpectedFailure: node-redis's `error` for the drop and for each failed
   * reconnect attempt, the drop itself, a reset after no reply). The first failure that leaves a connection down
   * starts an outage: one `error` event. Later failures while any connection is down are counted and logged, not
   * emitted; `restored` follows when every connection lost in the outage is ready again. A failure that leaves
   * the connection working (a failed keep-alive ping) is reported as it comes.
   */
  #onConnectionFailure(err: UnexpectedFailure): void {
    debug(
      'connection to %s: %s%s',
      this.#address,
      err.message,
      err.originalError ? ` (${err.originalError.message})` : '',
    );
    if (this.#quit) return;
    const connection = err.connection as unknown as { isReady?: boolean };
    // node-redis marks a dropped connection not ready before it reports; a reset (no reply) is reported just before
    // the connection is destroyed and reconnected: decide once that synchronous reaction is over.
    queueMicrotask(() => {
      if (this.#quit) return;
      const lost = connection.isReady !== true || this.#down.has(connection);
      if (!lost) {
        // The connection works (again): a late report about it (a reset armed before it reconnected, a failed
        // keep-alive) is no outage. Counted in the outage in progress, if any, and logged; never a bare error.
        if (this.#outage) this.#outage.failures++;
        return;
      }
      this.#down.add(connection);
      if (this.#outage) {
        this.#outage.failures++;
        return;
      }
      const outage: Outage = {
        since: Date.now(),
        failures: 1,
        reachable: false,
        probing: false,
        announced: false,
      };
      this.#outage = outage;
      const cause = err.originalError ?? err;
      this.#announceAfterGrace(
        outage,
        coded(
          ErrorCodes.CONNECTION_LOST,
          `Lost the connection to Redis at ${this.#address} (${cause.message}); reconnecting in the background. ` +
            "A 'restored' event follows once it works again; the failures until then are not reported one by one " +
            '(NODE_DEBUG=machinepack-redis-ts logs them).',
          { cause, address: this.#address },
        ),
      );
    });
  }

  /** Announce `outage` with `error` unless it is over within `BLIP_GRACE_MS` (or sooner, if it gets worse). */
  #announceAfterGrace(outage: Outage, error: Error): void {
    outage.announce = () => {
      outage.announce = undefined;
      if (this.#outage !== outage || this.#quit || outage.announced) return;
      outage.announced = true;
      this.report(error);
    };
    setTimeout(() => outage.announce?.(), BLIP_GRACE_MS).unref();
  }

  /**
   * @internal A subscription could not get its connections (Redis refused, timed out, down while connecting). The
   * first such failure starts an outage like a lost connection does (one `error` event with the cause and the
   * masked address); `restored` follows once every such subscription's connections are up and Redis serves.
   * `loop` names the subscription (see `connected` and `connectAbandoned`).
   */
  connectFailed(err: unknown, reachable: boolean, loop: object): void {
    if (this.#quit) return;
    this.#waiting.add(loop);
    const raw = (err as { raw?: { error?: unknown } } | null)?.raw?.error;
    const cause = raw instanceof Error ? raw : err instanceof Error ? err : new Error(String(err));
    debug('connecting to %s: %s', this.#address, redact(cause.message));
    if (this.#outage) {
      this.#outage.failures++;
      this.#outage.reachable = reachable;
      // Not coming back: no blip.
      this.#outage.announce?.();
      return;
    }
    this.#outage = { since: Date.now(), failures: 1, reachable, probing: false, announced: true };
    this.report(
      coded(
        ErrorCodes.CONNECTION_LOST,
        `Cannot reach Redis at ${this.#address} (${redact(cause.message)}); retrying in the background. ` +
          "A 'restored' event follows once it works; the failures until then are not reported one by one " +
          '(NODE_DEBUG=machinepack-redis-ts logs them).',
        { cause, address: this.#address },
      ),
    );
  }

  /**
   * @internal A subscription got its connections: the end of an outage that began while connecting, once no other
   * subscription still waits for its own.
   */
  connected(loop: object): void {
    if (!this.#waiting.delete(loop) || this.#waiting.size > 0) return;
    this.#endOutageWhenServing();
  }

  /**
   * @internal A subscription that had reported a failure to connect gave up before connecting (unsubscribe(),
   * quit(), a refusal): nothing of it waits for Redis any more. Once no subscription waits: if Redis answered
   * (LOADING, BUSY…), the outage ends as usual once Redis serves; if it was unreachable and no other connection of
   * this client is down, the outage is no longer followed and is dropped (debug log): left open, it would swallow
   * the next outage's `error` event and never end.
   */
  connectAbandoned(loop: object): void {
    if (!this.#waiting.delete(loop) || this.#waiting.size > 0) return;
    const outage = this.#outage;
    if (!outage) return;
    if (outage.reachable || this.#down.size > 0) {
      this.#endOutageWhenServing();
      return;
    }
    this.#outage = undefined;
    outage.announce = undefined;
    debug(
      'outage of %s: no subscription waits for Redis any more, no longer followed (%d failures)',
      this.#address,
      outage.failures,
    );
  }

  /** A connection of this client is ready (again): the end of the outage when it was the last one down. */
  #onReady(connection: object): void {
    if (!this.#down.delete(connection)) return;
    this.#endOutageWhenServing();
  }

  /**
   * Every connection is back: end the outage once Redis serves commands. A server that restarted accepts
   * connections while it is still loading its data (LOADING) and refuses commands until it is done; a PING on the
   * command connection tells, and is repeated until it succeeds. A drop meanwhile keeps the outage open.
   */
  #endOutageWhenServing(): void {
    const outage = this.#outage;
    if (!outage || outage.probing || this.#waiting.size > 0 || this.#down.size > 0 || this.#quit) return;
    const command = this.#command;
    if (!command) {
      this.#restore();
      return;
    }
    outage.probing = true;
    const probe = (): void => {
      if (this.#outage !== outage || this.#quit) return;
      command
        .then((c) => c.sendCommand(['PING']))
        .then(
          () => {
            outage.probing = false;
            if (this.#outage === outage && this.#waiting.size === 0 && this.#down.size === 0) this.#restore();
          },
          (err: unknown) => {
            if (this.#outage !== outage || this.#quit) return;
            outage.failures++;
            debug('outage of %s continues: %s', this.#address, err instanceof Error ? err.message : String(err));
            if (notServingYet(err)) {
              setTimeout(probe, PROBE_INTERVAL_MS).unref();
              return;
            }
            // Down again (the drop is reported as a failure of its own) or another refusal: the next `ready`
            // or connect probes again.
            outage.probing = false;
            if (this.#down.size === 0 && this.#waiting.size === 0) setTimeout(probe, PROBE_INTERVAL_MS).unref();
          },
        );
    };
    probe();
  }

  #restore(): void {
    const outage = this.#outage;
    if (!outage) return;
    this.#outage = undefined;
    outage.announce = undefined;
    if (!outage.announced) {
      debug(
        'connection to %s back after %d ms (a blip: not announced), %d failures',
        this.#address,
        Date.now() - outage.since,
        outage.failures,
      );
      return;
    }
    debug(
      'connection to %s restored after %d ms, %d failures',
      this.#address,
      Date.now() - outage.since,
      outage.failures,
    );
    this.emit('restored', { downMs: Date.now() - outage.since, failures: outage.failures, address: this.#address });
  }

  /** An `error` listener that throws has nowhere else to go: dropped, never a crash. */
  protected listenerFailed(): void {}

  /** @internal */
  get options(): { syncInterval: number; connectTimeout: number; retryDelay: number } {
    return this.#options;
  }

  #getManager(): Promise<Manager> {
    return (this.#manager ??= createManager({
      connectionString: this.#connectionString,
      meta: this.#meta,
      onUnexpectedFailure: (err: UnexpectedFailure) => this.#onConnectionFailure(err),
    }).then((r) => {
      this.#address = r.manager.url;
      return r.manager;
    }));
  }

  #connect(which: 'command' | 'subscriber'): Promise<Connection> {
    if (this.#quit) return Promise.reject(coded(ErrorCodes.CLIENT_QUIT, 'This client has quit.'));
    const cached = which === 'command' ? this.#command : this.#subscriber;
    if (cached) return cached;
    const p = this.#getManager()
      .then((manager) => getConnection({ manager, timeout: this.#options.connectTimeout }))
      .then((r) => {
        const connection = r.connection;
        (connection as unknown as NodeJS.EventEmitter).on('ready', () => this.#onReady(connection));
        return connection;
      });
    // A failed attempt is forgotten, so the next call tries again.
    p.catch(() => {
      if (which === 'command' && this.#command === p) this.#command = undefined;
      if (which === 'subscriber' && this.#subscriber === p) this.#subscriber = undefined;
    });
    if (which === 'command') this.#command = p;
    else this.#subscriber = p;
    return p;
  }

  /** @internal */
  commandConnection(): Promise<Connection> {
    return this.#connect('command');
  }
  /** @internal */
  subscriberConnection(): Promise<Connection> {
    return this.#connect('subscriber');
  }
}

/**
 * The builder behind the `Batch` interface. It only records: every operation is checked when `exec()` runs, so
 * bad data or options reject `exec()` (naming the key) before anything is sent, as `set` rejects.
 */
class FacadeBatch<T extends object> implements Batch<T> {
  readonly #operations: Array<() => WriteOperation> = [];
  #done = false;
  constructor(private readonly run: (operations: Array<() => WriteOperation>) => Promise<number[]>) {}

  set(key: string, data: T, options?: SetOptions): this {
    this.#operations.push(() => {
      const o = writeOptions(options, key, ['ttl', 'ifRevision'], 'a batch set');
      return { op: 'set', key, data: data as Record<string, unknown>, ...o };
    });
    return this;
  }

  del(key: string, options?: DelOptions): this {
    this.#operations.push(() => ({ op: 'delete', key, ...writeOptions(options, key, ['ifRevision'], 'a batch del') }));
    return this;
  }

  get length(): number {
    return this.#operations.length;
  }

  exec(): Promise<number[]> {
    if (this.#done) return Promise.reject(invalidInput('This batch was already executed (exec() runs a batch once).'));
    this.#done = true;
    return this.run(this.#operations.slice());
  }
}

/** The database behind the `Database` interface. */
export class FacadeDatabase implements Database {
  readonly #collections = new Map<string, FacadeCollection<object>>();
  constructor(
    readonly client: FacadeClient,
    readonly name: string,
  ) {}

  /** A collection of items of type `T` (plain objects). The same name gives the same collection. */
  collection<T extends object = Record<string, unknown>>(name: string): Collection<T> {
    if (typeof name !== 'string' || name === '')
      throw new TypeError('collection(name): name must be a non-empty string.');
    if (!isWellFormed(name))
      throw new TypeError(`collection(name): the name ${JSON.stringify(name)} is not well-formed Unicode.`);
    let c = this.#collections.get(name);
    if (!c) this.#collections.set(name, (c = new FacadeCollection<object>(this.client, this.name, name)));
    return c as unknown as Collection<T>;
  }
}

/** The collection behind the `Collection` interface. */
export class FacadeCollection<T extends object = Record<string, unknown>>
  extends Emitter<CollectionEvents<T> & StatusEvents>
  implements Collection<T>
{
  protected readonly eventNames = ['set', 'expire', 'delete', 'status'] as const;
  protected readonly emitterKind = 'collection';
  #replica: Replica | undefined;
  #subscribing: Promise<void> | undefined;
  #generation = 0;

  constructor(
    private readonly client: FacadeClient,
    readonly database: string,
    readonly name: string,
  ) {
    super();
  }

  /** A throwing listener must not stop other listeners or lose later changes: it goes to the client's `error`. */
  protected listenerFailed(err: Error): void {
    this.client.report(err);
  }

  /**
   * Start following the collection. Resolves once the local copy is loaded (listeners have then had `set` for
   * every item). While Redis is unreachable it keeps trying. It rejects if the client quits (or `unsubscribe()` is
   * called) first, and at once on a refusal that retrying cannot cure: an input the machine refuses
   * (`E_INVALID_INPUT`) or Redis's `NOPERM` (the user's ACL lacks the channel, a command or a key; `E_FAILED`).
   * After such a refusal nothing stays subscribed, and subscribe() may be called again.
   */
  subscribe(): Promise<void> {
    if (this.#subscribing) return this.#subscribing;
    // Each subscribe() starts a generation; unsubscribe() ends it. Whatever a stale generation loads is ended at
    // once and can announce nothing, so one collection has at most one live copy feeding its listeners.
    const generation = ++this.#generation;
    this.client.collections.add(this as unknown as FacadeCollection<object>);
    const p = this.#subscribeLoop(generation);
    // A caller that does not await must not get an unhandled rejection. A refusal (usage, permission) leaves
    // nothing subscribed: a later subscribe() tries again.
    p.catch(() => {
      if (this.#subscribing !== p || this.#generation !== generation) return;
      this.#subscribing = undefined;
      this.client.collections.delete(this as unknown as FacadeCollection<object>);
    });
    this.#subscribing = p;
    return p;
  }

  /** Ends the current retry wait of the subscribe loop at once (unsubscribe(), quit()). */
  #wake: (() => void) | undefined;

  /** The wait before the next subscribe attempt; unsubscribe() and quit() end it early. */
  #retryWait(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => {
          this.#wake = undefined;
          resolve();
        },
        timerDelay(subscribeRetryDelay(this.client.options.retryDelay)),
      );
      timer.unref();
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  async #subscribeLoop(generation: number): Promise<void> {
    // This loop's name in the client's waiting set (see connectFailed): when the loop ends without connecting, it
    // leaves the set, or an outage it kept open would never end.
    const loop = {};
    try {
      await this.#subscribeAttempts(generation, loop);
    } catch (err) {
      this.client.connectAbandoned(loop);
      throw err;
    }
  }

  async #subscribeAttempts(generation: number, loop: object): Promise<void> {
    const stale = () => generation !== this.#generation || this.client.closed;
    for (;;) {
      if (stale())
        throw coded(
          ErrorCodes.CLIENT_QUIT,
          `Subscription to ${this.database}/${this.name} ended before it was loaded.`,
        );
      let connection: Connection;
      let subscriber: Connection;
      try {
        [connection, subscriber] = await Promise.all([
          this.client.commandConnection(),
          this.client.subscriberConnection(),
        ]);
      } catch (err) {
        if (stale()) continue;
        if (isUsageError(err)) throw err;
        // Redis unreachable (down, refusing, not answering the handshake): an outage, not a refusal.
        this.client.connectFailed(err, false, loop);
        await this.#retryWait();
        continue;
      }
      if (stale()) continue;
      this.client.connected(loop);
      try {
        const { subscription } = await subscribeCollection({
          connection,
          subscriber,
          database: this.database,
          collection: this.name,
          syncInterval: this.client.options.syncInterval,
          onChange: (type, key, data, revision) => {
            if (!stale()) this.#emit(type, key, data as T, revision);
          },
          onTrouble: (err) => {
            if (!stale()) this.client.reportTrouble(err);
          },
          onStatus: (status) => {
            // The first `live` is announced below, once the copy is this collection's.
            if (!stale() && this.#replica) this.emit('status', status);
          },
        });
        if (stale()) {
          await subscription.end();
          continue;
        }
        this.#replica = subscription;
        this.emit('status', subscription.status);
        return;
      } catch (err) {
        if (stale()) continue;
        // A usage refusal (an input the machine does not take) fails the same way every time: never retried.
        if (isUsageError(err)) throw err;
        // So does a permission refusal (the user's ACL lacks the channel, a command or the keys): retrying would
        // only repeat it (and its `error` event) until someone changes the ACL.
        if (isPermissionRefusal(err))
          throw failure(
            err,
            `subscribe to ${this.database}/${this.name}`,
            false,
            ' Not retried: grant it in the ACL and call subscribe() again.',
          );
        // Redis is up but cannot serve yet (LOADING its data after a restart, BUSY…): an outage like an unreachable
        // Redis (one `error` event, then `restored` once it serves), not an `error` event per attempt.
        const reply = redisReply(err);
        if (reply !== undefined && notServingYet(reply)) {
          this.client.connectFailed(err, true, loop);
        } else this.client.reportTrouble(failure(err, `subscribe to ${this.database}/${this.name}`));
        await this.#retryWait();
      }
    }
  }

  #emit(type: CollectionEvent, key: string, data: T, revision: number): void {
    if (this.listenerCount(type) === 0) return;
    this.emit(type, key, data, { event: type, database: this.database, collection: this.name, revision });
  }

  /** Stop following; the local copy is dropped. Once it resolves, no listener of this collection is called. */
  async unsubscribe(): Promise<void> {
    this.#generation++;
    this.#wake?.(); // a subscribe() waiting to retry rejects now
    this.#subscribing = undefined;
    this.client.collections.delete(this as unknown as FacadeCollection<object>);
    const replica = this.#replica;
    this.#replica = undefined;
    await replica?.end();
  }

  /**
   * Write an item (a plain object) with an optional TTL in seconds. Resolves once Redis has it, with the item's
   * new revision; rejects with a
   * clear error for data that is not a plain object of JSON values, or when Redis is unreachable or refuses.
   * Never an unhandled rejection: a caller that does not handle the promise gets the error on the client's
   * `error` event instead.
   */
  set(key: string, data: T, ttlOrOptions?: number | SetOptions): Promise<number> {
    return this.client.settle(this.#set(key, data, ttlOrOptions));
  }

  async #set(key: string, data: T, ttlOrOptions?: number | SetOptions): Promise<number> {
    // Checked before connecting too, so refused data fails the same way whether or not Redis is reachable.
    assertPlainObject(data, key);
    const { ttl, ifRevision } = writeOptions(ttlOrOptions, key, ['ttl', 'ifRevision'], 'set');
    const what = `set ${keyName(key)} in ${this.database}/${this.name}`;
    return this.#write(what, key, async (connection) => {
      const { revision } = await setItem({
        connection,
        database: this.database,
        collection: this.name,
        key,
        data: data as Record<string, unknown>,
        ttl,
        ifRevision,
      });
      return revision;
    });
  }

  /**
   * A write machine call on the command connection, with the failures every write maps alike: after quit(),
   * `E_CLIENT_QUIT`; a failed condition, `E_CONFLICT` (naming `key` when given); else the connection or Redis failure.
   */
  async #write<R>(what: string, key: string | undefined, run: (connection: Connection) => Promise<R>): Promise<R> {
    let connection: Connection;
    try {
      connection = await this.client.commandConnection();
    } catch (err) {
      throw this.client.closed ? quitFirst(what) : failure(err, what, true);
    }
    try {
      return await run(connection);
    } catch (err) {
      throw this.client.closed ? quitFirst(what) : (conflictError(err, what, key) ?? failure(err, what));
    }
  }

  /**
   * Delete an item. Resolves with whether there was one. With `ifRevision`, only if the item has that revision
   * (else `E_CONFLICT`). Like `set`, never an unhandled rejection.
   */
  del(key: string, options?: DelOptions): Promise<boolean> {
    return this.client.settle(this.#del(key, options));
  }

  async #del(key: string, options?: DelOptions): Promise<boolean> {
    const what = `delete ${keyName(key)} in ${this.database}/${this.name}`;
    const { ifRevision } = writeOptions(options, key, ['ifRevision'], 'del');
    return this.#write(
      what,
      key,
      async (connection) =>
        (await deleteItem({ connection, database: this.database, collection: this.name, key, ifRevision })).deleted,
    );
  }

  /** Several sets and deletes applied together, all or nothing: `batch().set(…).del(…).exec()`. */
  batch(): Batch<T> {
    return new FacadeBatch<T>((operations) => this.client.settle(this.#writeItems(operations)));
  }

  async #writeItems(recorded: Array<() => WriteOperation>): Promise<number[]> {
    const what = `write a batch of ${recorded.length} in ${this.database}/${this.name}`;
    // Every operation is checked before connecting, so bad data fails the same way whether or not Redis is up.
    const operations = recorded.map((make) => make());
    if (operations.length === 0) return [];
    // The items' shape here (as `set` does); the writeItems machine checks every value before sending.
    for (const o of operations) if (o.op === 'set') assertPlainObject(o.data, o.key);
    return this.#write(
      what,
      undefined,
      async (connection) =>
        (await writeItems({ connection, database: this.database, collection: this.name, operations })).revisions,
    );
  }

  /** The local copy of an item (after `subscribe()`), or undefined. */
  get(key: string): T | undefined {
    return this.#replica?.get(key) as T | undefined;
  }

  /** The local copy of an item with its revision and deadline (after `subscribe()`), or undefined. */
  entry(key: string): Entry<T> | undefined {
    const e = this.#replica?.entry(key);
    return e && { data: e.data as T, revision: e.revision, expiresAt: e.deadline > 0 ? e.deadline : null };
  }

  /** The keys in the local copy. */
  keys(): string[] {
    return this.#replica ? this.#replica.keysList() : [];
  }

  /** How many items the local copy holds. */
  get size(): number {
    return this.#replica?.size ?? 0;
  }

  /** `'loading'` until the copy is loaded (and after `unsubscribe()`), then `'live'` or `'stale'`. */
  get status(): CollectionStatus {
    return this.#replica?.status ?? 'loading';
  }

  /** The copy's counters; all zero before it is loaded. */
  stats(): CollectionStats {
    return (
      this.#replica?.stats() ?? { items: 0, revision: 0, catchUps: 0, resyncs: 0, rejectedMessages: 0, lastSyncAt: 0 }
    );
  }

  /** @internal The live replica, for tests and tools. */
  get replica(): Replica | undefined {
    return this.#replica;
  }
}

/**
 * Create a memis client. Takes every form node-redis v3's `createClient` took (memis promised "the same arguments
 * as the default redis client"): `(options)`, `(port, host, options)`, `(port, options)`, `(url, options)`,
 * `(socketPath, options)`, with `{ url, host, port, path, db, password, user, tls, family }` and v3's other
 * option names, plus node-redis 6 options and the facade's own (`syncInterval`, `connectTimeout`, `retryDelay`).
 * Anything it cannot honour (an unknown option, an unusable port, conflicting values) is a TypeError naming it.
 */
export function createClient(options?: ClientOptions): MemisClient;
export function createClient(url: string, options?: ClientOptions): MemisClient;
export function createClient(port: number | `${number}`, host?: string, options?: ClientOptions): MemisClient;
export function createClient(port: number | `${number}`, options?: ClientOptions): MemisClient;
export function createClient(...args: unknown[]): MemisClient {
  const { connectionString, meta, facade } = resolveClientArgs(args);
  const problem = connectionStringProblem(connectionString);
  if (problem) throw new TypeError(`createClient: ${problem}`);
  return new FacadeClient(connectionString, meta, facade);
}
