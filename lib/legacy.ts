/* eslint-disable @typescript-eslint/no-unsafe-declaration-merging -- command methods are installed on the prototypes at run time and declared by interfaces below */
/**
 * A node-redis v3-style client on a node-redis 6 connection, for callers written for v3 (Sails' session and
 * sockets hooks, sails-redis, the socket.io Redis adapter): callbacks, lowercase command names, EventEmitter
 * events, `end(flush)`, `select(db, cb)`, `duplicate()`, and pub/sub with `message` / `pmessage` events.
 *
 * Legacy connections speak RESP2, so replies have the shapes v3 gave (bulk strings as strings, integers as
 * numbers, arrays, null); HGETALL is turned into an object (null when empty), as v3 did.
 */
import { EventEmitter } from 'node:events';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { ErrorReply, MultiErrorReply } from 'redis';
import type { RedisClient } from './connection/client';
// registry imports only types from this file: no cycle at run time.
import { bounded, keepProcessAlive } from './connection/registry';
import type { CallContext } from './define';

export type Callback<T = unknown> = (err: Error | null, reply?: T) => void;
type Arg = string | Buffer;

/** Commands installed as lowercase methods (others go through `send_command`). */
const COMMANDS = (
  'append auth bgrewriteaio bgsave bitcount bitfield bitop bitpos blmove blpop brpop brpoplpush bzpopmax bzpopmin ' +
  'client cluster command config copy dbsize debug decr decrby del discard dump echo eval evalsha exists expire ' +
  'expireat flushall flushdb geoadd geodist geohash geopos georadius georadiusbymember geosearch get getbit getdel ' +
  'getex getrange getset hdel hexists hget hgetall hincrby hincrbyfloat hkeys hlen hmget hmset hscan hset hsetnx ' +
  'hstrlen hvals incr incrby incrbyfloat info keys lastsave lindex linsert llen lmove lpop lpos lpush lpushx lrange ' +
  'lrem lset ltrim memory mget migrate monitor move mset msetnx object persist pexpire pexpireat pfadd pfcount ' +
  'pfmerge ping psetex pttl publish pubsub randomkey rename renamenx restore role rpop rpoplpush rpush rpushx sadd ' +
  'save scan scard script sdiff sdiffstore set setbit setex setnx setrange shutdown sinter sinterstore sismember ' +
  'slaveof slowlog smembers smismember smove sort spop srandmember srem sscan strlen sunion sunionstore swapdb time ' +
  'touch ttl type unlink wait watch unwatch xack xadd xclaim xdel xgroup xinfo xlen xpending xrange xread ' +
  'xreadgroup xrevrange xtrim zadd zcard zcount zincrby zinterstore zlexcount zpopmax zpopmin zrange zrangebylex ' +
  'zrangebyscore zrank zrem zremrangebylex zremrangebyrank zremrangebyscore zrevrange zrevrangebylex ' +
  'zrevrangebyscore zrevrank zscan zscore zunionstore acl'
).split(' ');

/** v3 argument rules: arrays are flattened one level, dictionaries (hmset, mset…) become field/value pairs. */
function flatten(args: unknown[]): Arg[] {
  const out: Arg[] = [];
  const push = (v: unknown) => {
    if (Buffer.isBuffer(v)) out.push(v);
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, val] of Object.entries(v)) out.push(k, Buffer.isBuffer(val) ? val : String(val));
    } else out.push(String(v));
  };
  for (const a of args) {
    if (Array.isArray(a)) a.forEach(push);
    else push(a);
  }
  return out;
}

/** Split v3 call arguments into command arguments and the optional trailing callback. */
function split(args: unknown[]): [Arg[], Callback | undefined] {
  const last = args[args.length - 1];
  if (typeof last === 'function') return [flatten(args.slice(0, -1)), last as Callback];
  return [flatten(args), undefined];
}

/** An error Redis sent as its reply (node-redis 6's ErrorReply family), as opposed to a connection failure. */
function isReplyError(value: unknown): value is Error {
  return value instanceof ErrorReply;
}

/**
 * v3 handed reply errors out with `code` (the reply's first word: WRONGTYPE, NOAUTH, EXECABORT…), `command` (upper
 * case) and `args`; callers branch on them (sails-hook-sockets checks `err.command === 'SELECT'`).
 */
function v3Error(err: Error, command: string, args: Arg[]): Error {
  const e = err as Error & { code?: string; command?: string; args?: Arg[] };
  const word = /^([A-Z][A-Z_]*)\b/.exec(err.message);
  if (e.code === undefined && word) e.code = word[1];
  e.command ??= command.toUpperCase();
  e.args ??= args;
  return e;
}

function shape(command: string, reply: unknown): unknown {
  if (command === 'hgetall' && Array.isArray(reply)) {
    if (reply.length === 0) return null;
    const obj: Record<string, unknown> = {};
    for (let i = 0; i < reply.length; i += 2) obj[String(reply[i])] = reply[i + 1];
    return obj;
  }
  return reply;
}

export interface LegacyHooks {
  /** Release the connection (end/quit). */
  release(client: LegacyClient): void;
  /** Open another legacy connection on the same manager (duplicate). */
  duplicate(): Promise<LegacyClient>;
}

/** The v3-style client. Every command method is `name(...args, cb?)`. */
export class LegacyClient extends EventEmitter {
  /** A label for the caller's own use (v3 callers set it; nothing is sent to Redis). */
  name: string | undefined;
  #subscriptions = 0;
  #down = false;
  // Listeners handed to node-redis, kept so unsubscribe can remove exactly ours.
  readonly #onMessage = (message: Buffer, channel: Buffer) => this.#emitMessage('message', [channel], message);
  /** node-redis does not pass the pattern to a pattern listener: one listener per pattern carries it. */
  readonly #patternListeners = new Map<string, (message: Buffer, channel: Buffer) => void>();
  #patternListener(pattern: string): (message: Buffer, channel: Buffer) => void {
    let l = this.#patternListeners.get(pattern);
    if (!l) {
      const p = Buffer.from(pattern);
      l = (message, channel) => this.#emitMessage('pmessage', [p, channel], message);
      this.#patternListeners.set(pattern, l);
    }
    return l;
  }

  /**
   * The node-redis 6 connection underneath. Private (not `client`): v3's `client(...)` is the CLIENT command, and a
   * field of that name would hide it (`db.client('getname', cb)` must work as it did on v3).
   */
  readonly #redis: RedisClient;

  constructor(
    client: RedisClient,
    private readonly hooks: LegacyHooks,
  ) {
    super();
    this.#redis = client;
    client.on('ready', () => {
      this.#down = false;
      this.emit('connect');
      this.emit('ready');
    });
    client.on('error', (err: Error) => this.#error(err));
    client.on('reconnecting', () => {
      if (!this.#down) {
        this.#down = true;
        this.emit('end'); // v3 emitted `end` when the connection closed, then reconnected
      }
      this.emit('reconnecting', {});
    });
  }

  /** True while the connection is ready for commands (v3's `connected`). */
  get connected(): boolean {
    return this.#redis.isReady;
  }
  get ready(): boolean {
    return this.#redis.isReady;
  }

  /** Errors go to `error` listeners; with none, they are dropped rather than crashing the process. */
  #error(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #emitMessage(kind: 'message' | 'pmessage', head: Buffer[], message: Buffer): void {
    try {
      this.emit(`${kind}Buffer`, ...head, message);
      this.emit(kind, ...head.map((b) => b.toString()), message.toString());
    } catch (err) {
      // A throwing listener must not make node-redis drop the rest of the network chunk.
      this.#error(err as Error);
    }
  }

  /** v3's generic form: `send_command('pubsub', ['numsub', ch], cb)`. */
  send_command(command: string, args?: unknown[] | Callback, cb?: Callback): boolean {
    if (typeof args === 'function') [args, cb] = [[], args];
    this.#send(command.toLowerCase(), flatten(args ?? []), cb);
    return this.#redis.isReady;
  }
  sendCommand(command: string, args?: unknown[] | Callback, cb?: Callback): boolean {
    return this.send_command(command, args, cb);
  }

  #send(command: string, args: Arg[], cb: Callback | undefined): void {
    // Bounded by the connection's reply watch (meta.commandTimeout): a callback is always called, also when the
    // server hangs or stays down (v3 queued commands while disconnected; so do we, but not forever).
    bounded(this.#redis, this.#redis.sendCommand([command, ...args])).then(
      (reply) => cb?.(null, shape(command, reply)),
      (err: Error) => {
        const e = isReplyError(err) ? v3Error(err, command, args) : err;
        if (cb) cb(e);
        else this.#error(e);
      },
    );
  }

  /** Change the database; node-redis re-selects it after a reconnect. */
  select(db: number | string, cb?: Callback): boolean {
    bounded(this.#redis, this.#redis.select(Number(db))).then(
      () => cb?.(null, 'OK'),
      (err: Error) => {
        const e = isReplyError(err) ? v3Error(err, 'select', [String(db)]) : err;
        if (cb) cb(e);
        else this.#error(e);
      },
    );
    return this.#redis.isReady;
  }

  subscribe(...args: unknown[]): boolean {
    return this.#sub('subscribe', args);
  }
  psubscribe(...args: unknown[]): boolean {
    return this.#sub('psubscribe', args);
  }
  unsubscribe(...args: unknown[]): boolean {
    return this.#sub('unsubscribe', args);
  }
  punsubscribe(...args: unknown[]): boolean {
    return this.#sub('punsubscribe', args);
  }

  #sub(kind: 'subscribe' | 'psubscribe' | 'unsubscribe' | 'punsubscribe', raw: unknown[]): boolean {
    const [args, cb] = split(raw);
    const names = args.map(String);
    const c = this.#redis;
    let op: Promise<unknown>;
    // A subscriber waits for messages, not replies: it keeps the process alive even when no command waits.
    if (kind === 'subscribe' || kind === 'psubscribe') keepProcessAlive(c);
    if (kind === 'subscribe') op = c.subscribe(names, this.#onMessage, true);
    else if (kind === 'unsubscribe') op = c.unsubscribe(names.length ? names : undefined, this.#onMessage, true);
    else if (kind === 'psubscribe') op = Promise.all(names.map((p) => c.pSubscribe(p, this.#patternListener(p), true)));
    else {
      const patterns = names.length ? names : [...this.#patternListeners.keys()];
      op = Promise.all(
        patterns.map((p) =>
          c.pUnsubscribe(p, this.#patternListener(p), true).then(() => this.#patternListeners.delete(p)),
        ),
      );
    }
    op.then(
      () => {
        const adding = kind === 'subscribe' || kind === 'psubscribe';
        for (const n of names) {
          this.#subscriptions = Math.max(0, this.#subscriptions + (adding ? 1 : -1));
          this.emit(kind, n, this.#subscriptions);
        }
        cb?.(null, names[names.length - 1] ?? null);
      },
      (err: Error) => (cb ? cb(err) : this.#error(err)),
    );
    return this.#redis.isReady;
  }

  /** A transaction (MULTI/EXEC), v3 style: chain commands, then `exec(cb)`. */
  multi(commands?: unknown[][]): LegacyMulti {
    return new LegacyMulti(this.#redis, commands, false);
  }
  /** A pipeline without MULTI (v3's batch). */
  batch(commands?: unknown[][]): LegacyMulti {
    return new LegacyMulti(this.#redis, commands, true);
  }

  /** Close the connection. `flush` is accepted for compatibility: waiting commands are rejected either way. */
  end(_flush?: boolean): void {
    this.hooks.release(this);
  }

  /** Close gracefully (pending replies arrive first), then call back. */
  quit(cb?: Callback<'OK'>): boolean {
    this.#redis.close().then(
      () => {
        this.hooks.release(this);
        cb?.(null, 'OK');
      },
      (err: Error) => {
        this.hooks.release(this);
        cb?.(err);
      },
    );
    return true;
  }

  /** A new connection with the same options (and manager). Connects in the background, like v3. */
  duplicate(_options?: unknown, cb?: Callback<LegacyClient>): LegacyClient | undefined {
    if (typeof _options === 'function') cb = _options as Callback<LegacyClient>;
    if (cb) {
      this.hooks.duplicate().then(
        (c) => cb!(null, c),
        (err: Error) => cb!(err),
      );
      return undefined;
    }
    return LegacyClient.pending(this.hooks);
  }

  /** A client that queues nothing of its own: it forwards to the connection once it is made. */
  private static pending(hooks: LegacyHooks): LegacyClient {
    // v3's duplicate() returned at once. We hand back a proxy that becomes the real client when connected.
    const ready = hooks.duplicate();
    const proxy = new EventEmitter() as unknown as LegacyClient;
    let real: LegacyClient | undefined;
    const queue: Array<(c: LegacyClient) => void> = [];
    ready.then(
      (c) => {
        real = c;
        for (const event of proxy.eventNames())
          for (const l of proxy.listeners(event)) c.on(event, l as (...a: unknown[]) => void);
        for (const q of queue.splice(0)) q(c);
        proxy.emit('connect');
        proxy.emit('ready');
      },
      (err: Error) => {
        if (proxy.listenerCount('error') > 0) proxy.emit('error', err);
      },
    );
    return new Proxy(proxy, {
      get(target, prop, receiver) {
        if (real && prop !== 'on' && prop !== 'once' && prop !== 'emit') {
          const v = Reflect.get(real, prop, real);
          return typeof v === 'function' ? v.bind(real) : v;
        }
        if (prop === 'connected' || prop === 'ready') return real?.connected ?? false;
        if (
          typeof prop === 'string' &&
          (COMMANDS.includes(prop) ||
            [
              'send_command',
              'select',
              'subscribe',
              'psubscribe',
              'unsubscribe',
              'punsubscribe',
              'end',
              'quit',
            ].includes(prop))
        ) {
          return (...args: unknown[]) => {
            if (real) return (real as unknown as Record<string, (...a: unknown[]) => unknown>)[prop]!(...args);
            queue.push((c) => (c as unknown as Record<string, (...a: unknown[]) => unknown>)[prop]!(...args));
            return false;
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  unref(): void {
    this.#redis.unref();
  }
  ref(): void {
    this.#redis.ref();
  }
}

/** v3's Multi/Batch: `multi().set(k, v).get(k).exec((err, replies) => …)`. */
export class LegacyMulti {
  readonly #queue: Array<[string, Arg[], Callback | undefined]> = [];
  readonly #redis: RedisClient;
  readonly #pipelineOnly: boolean;
  constructor(client: RedisClient, commands: unknown[][] | undefined, pipelineOnly: boolean) {
    this.#redis = client;
    this.#pipelineOnly = pipelineOnly;
    for (const c of commands ?? []) {
      const [name, ...rest] = c;
      const [args, cb] = split(rest);
      this.#queue.push([String(name).toLowerCase(), args, cb]);
    }
  }

  /** Add a command (the lowercase methods call this); `cb` gets that command's own reply, as in v3. */
  queueCommand(name: string, args: Arg[], cb?: Callback): this {
    this.#queue.push([name, args, cb]);
    return this;
  }

  /**
   * v3's contract: a command that fails at run time does not fail the whole call: `cb(null, replies)` with the
   * error object in that command's place (and each command's own callback called with its error or reply). Only a
   * transaction Redis refuses as a whole (EXECABORT) or a lost connection calls back with an error.
   */
  exec(cb?: Callback<unknown[]>): boolean {
    const queue = this.#queue.slice();
    const c = this.#redis;
    let run: Promise<unknown[]>;
    if (this.#pipelineOnly) {
      // A batch is independent commands sent together: settle each on its own so one error loses no other reply.
      run = Promise.all(
        queue.map(([name, args]) =>
          bounded(c, c.sendCommand([name, ...args])).then(
            (r) => r,
            (err: Error) => (isReplyError(err) ? v3Error(err, name, args) : Promise.reject(err)),
          ),
        ),
      );
    } else {
      const m = c.multi();
      for (const [name, args] of queue) m.addCommand([name, ...args]);
      run = bounded(c, m.exec() as Promise<unknown[]>).catch((err: Error & { replies?: unknown[] }) => {
        if (err instanceof MultiErrorReply) return err.replies;
        return Promise.reject(isReplyError(err) ? v3Error(err, 'exec', []) : err);
      });
    }
    run.then(
      (raw) => {
        const replies = raw.map((r, i) => {
          const [name, args] = queue[i]!;
          return isReplyError(r) ? v3Error(r, name, args) : shape(name, r);
        });
        queue.forEach(([, , own], i) => {
          const r = replies[i];
          if (!own) return;
          if (r instanceof Error) own(r);
          else own(null, r);
        });
        cb?.(null, replies);
      },
      (err: Error) => {
        for (const [, , own] of queue) own?.(err);
        cb?.(err);
      },
    );
    return true;
  }
  exec_atomic(cb?: Callback<unknown[]>): boolean {
    return this.exec(cb);
  }
}

// Install the lowercase command methods (and their uppercase aliases) on both classes.
for (const name of COMMANDS) {
  const onClient = function (this: LegacyClient, ...raw: unknown[]) {
    const [args, cb] = split(raw);
    return this.send_command(name, args, cb);
  };
  const onMulti = function (this: LegacyMulti, ...raw: unknown[]) {
    const [args, cb] = split(raw);
    this.queueCommand(name, args, cb);
    return this;
  };
  for (const n of [name, name.toUpperCase()]) {
    Object.defineProperty(LegacyClient.prototype, n, { value: onClient, writable: true, configurable: true });
    Object.defineProperty(LegacyMulti.prototype, n, { value: onMulti, writable: true, configurable: true });
  }
}

/* eslint-disable @typescript-eslint/no-explicit-any */
// The lowercase (and uppercase) command methods are installed at run time from the list above; v3 callers are
// untyped JavaScript, so they are declared loosely: `(...args, cb?) => boolean`.
export interface LegacyClient {
  [command: string]: any;
}
export interface LegacyMulti {
  [command: string]: any;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** The name the original was published under: callers requiring it were written against node-redis v3 clients. */
export const ORIGINAL_NAME = 'machinepack-redis';

/** This package's folder (the nearest one above this file with a package.json), resolved through symlinks. */
function ownPackageDir(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return __dirname;
    dir = up;
  }
  return dir;
}

interface LoadedModule {
  filename: string;
  children?: LoadedModule[];
}

/**
 * Whether this copy of the package was loaded under the name `machinepack-redis` (installed through an npm
 * `overrides` entry or alias such as `"machinepack-redis": "npm:machinepack-redis-ts@^0.1.0"`). Two signs, either
 * is enough:
 * - its folder is `node_modules/machinepack-redis` (npm and yarn installs of an alias, override or tarball);
 * - a module that required it resolves the name `machinepack-redis` to this folder (symlinked installs: pnpm,
 *   `file:` folders, `npm link`), found through the loader's record of who required whom.
 * Pure: the inputs are given, so the rule is testable without installing anything.
 */
export function detectLoadedAsOriginal(
  packageDir: string,
  modules: Iterable<LoadedModule>,
  resolvePackageDir: (fromDir: string) => string | undefined,
): boolean {
  if (path.basename(packageDir) === ORIGINAL_NAME && path.basename(path.dirname(packageDir)) === 'node_modules')
    return true;
  const inside = (f: string) => f.startsWith(packageDir + path.sep);
  const checked = new Set<string>();
  for (const m of modules) {
    if (!m.filename || inside(m.filename) || !m.children?.some((c) => inside(c.filename))) continue;
    const from = path.dirname(m.filename);
    if (checked.has(from)) continue;
    checked.add(from);
    if (resolvePackageDir(from) === packageDir) return true;
  }
  return false;
}

let detected: { modules: number; result: boolean } | undefined;

/** {@link detectLoadedAsOriginal} for this process (memoized until more modules are loaded). */
export function loadedAsOriginal(): boolean {
  const cache = require.cache as Record<string, LoadedModule | undefined>;
  const count = Object.keys(cache).length;
  if (detected && (detected.result || detected.modules === count)) return detected.result;
  let packageDir: string;
  try {
    packageDir = realpathSync(ownPackageDir());
  } catch {
    packageDir = ownPackageDir();
  }
  const result = detectLoadedAsOriginal(
    packageDir,
    Object.values(cache).filter((m): m is LoadedModule => m !== undefined),
    (fromDir) => {
      try {
        return path.dirname(realpathSync(require.resolve(`${ORIGINAL_NAME}/package.json`, { paths: [fromDir] })));
      } catch {
        return undefined;
      }
    },
  );
  detected = { modules: count, result };
  return result;
}

/**
 * Whether getConnection hands out a v3-style connection. `meta.legacyMode` (true or false) on the call wins,
 * then the manager's; without either, runner-face calls (`Pack.getConnection(...)`: how every caller of the
 * original calls) get one when the package was loaded as `machinepack-redis`, and `Pack.promises` calls never do.
 */
export function wantsLegacy(
  callMeta: Record<string, unknown> | undefined,
  managerMeta: Record<string, unknown> | undefined,
  context: CallContext,
): boolean {
  for (const meta of [callMeta, managerMeta]) {
    const v = meta?.legacyMode;
    if (v === true || v === false) return v;
  }
  return context.face === 'runner' && loadedAsOriginal();
}
