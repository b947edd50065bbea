/**
 * Typings for the `machine` runner (it ships none) and the typed pack built with it.
 */
import type { AnyMachine, ArginsOf, ExitDef, ExitDefs, InputDefs, Machine, OtherExits, OutputOf } from './define';
import { ErrorCodes } from './errors';
import { closest } from './suggest';

/** What a non-success exit reaches `.exec`/`await` as. */
export interface RunnerException<X extends string = string, R = unknown> extends Error {
  name: 'Exception';
  code: X;
  exit: X;
  raw: R;
}

/** `.switch({...})` handlers: `error` is required, every other key must be a declared exit. */
export type SwitchHandlers<E extends ExitDefs> = {
  error: (err: Error) => void;
  success: (output: OutputOf<E['success']>) => void;
} & { [K in OtherExits<E>]?: (raw: OutputOf<E[K]>) => void };

/** The lazy call a runner method returns: nothing runs until it is awaited, `.exec`'d, `.switch`'d or `.now()`'d. */
export interface Deferred<E extends ExitDefs, Sync extends boolean> extends PromiseLike<OutputOf<E['success']>> {
  exec(cb: (err: Error | null | undefined, output?: OutputOf<E['success']>) => void): void;
  switch(handlers: SwitchHandlers<E>): void;
  catch<T = never>(onRejected: (err: Error) => T | PromiseLike<T>): Promise<OutputOf<E['success']> | T>;
  /** Map an exit (or a predicate on the error) to another exit name or Error. */
  intercept(rule: string | ((err: Error) => boolean), handler: string | ((err: Error) => unknown)): Deferred<E, Sync>;
  tolerate(rule: string | ((err: Error) => boolean), handler?: (err: Error) => unknown): Deferred<E, Sync>;
  timeout(ms: number): Deferred<E, Sync>;
  meta(data: Record<string, unknown>): Deferred<E, Sync>;
  log(): Promise<void>;
  /** Run synchronously (only machines defined with `sync: true`). */
  now: Sync extends true ? () => OutputOf<E['success']> : NowOnAsyncMachine;
  /** Deprecated alias of `now()`. */
  execSync: Sync extends true ? () => OutputOf<E['success']> : NowOnAsyncMachine;
}

/**
 * What `.now()` is on an asynchronous machine: not callable, and the compiler's error quotes this type, so it
 * says what to do instead of "Type 'never' has no call signatures".
 */
export interface NowOnAsyncMachine {
  'now() works only on synchronous machines (createConnectionUrl): use await, .exec(cb) or .switch({...})': never;
}

/** A machine as the runner exposes it: `m(argins)` (lazy) or `m(argins, cb)` (runs at once). */
export interface RunnerMethod<I extends InputDefs, E extends ExitDefs, Sync extends boolean> {
  (argins: ArginsOf<I>): Deferred<E, Sync>;
  (argins: ArginsOf<I>, cb: (err: Error | null | undefined, output?: OutputOf<E['success']>) => void): void;
}

/** `E` with the success output's `value` typed `T` (getCachedValue<T>). */
export type WithValue<E extends ExitDefs, T> = Omit<E, 'success'> & {
  success: ExitDef<Omit<OutputOf<E['success']>, 'value'> & { value: T }>;
};

/**
 * getCachedValue, generic in the value's type: `Pack.getCachedValue<User>({...})`. The value is whatever was
 * stored under the key: `T` is what the caller expects, not something checked at run time.
 */
export interface GetCachedValueMethod<I extends InputDefs, E extends ExitDefs> {
  <T = unknown>(argins: ArginsOf<I>): Deferred<WithValue<E, T>, false>;
  <T = unknown>(
    argins: ArginsOf<I>,
    cb: (err: Error | null | undefined, output?: OutputOf<WithValue<E, T>['success']>) => void,
  ): void;
}

export type RunnerPack<M extends Record<string, AnyMachine>> = {
  [K in keyof M]: M[K] extends Machine<infer I, infer E, infer S>
    ? K extends 'getCachedValue'
      ? GetCachedValueMethod<I, E>
      : RunnerMethod<I, E, S>
    : never;
};
export type PromisePack<M extends Record<string, AnyMachine>> = {
  [K in keyof M]: K extends 'getCachedValue'
    ? <T = unknown>(
        argins: Parameters<M[K]['call']>[0],
      ) => Promise<Omit<Awaited<ReturnType<M[K]['call']>>, 'value'> & { value: T }>
    : M[K]['call'];
};

interface MachineRunner {
  pack(options: {
    name: string;
    version?: string;
    description?: string;
    defs: Record<string, Record<string, unknown>>;
  }): Record<string, unknown>;
}

interface ParleyDeferred {
  /** parley's 15 s "did you forget to await?" timer, cleared when we refuse a call before it runs. */
  _execCountdown?: ReturnType<typeof setTimeout>;
  exec(cb: (err: unknown, out?: unknown) => void): void;
  switch(handlers: unknown): void;
  now(): unknown;
  execSync(): unknown;
  toPromise(): Promise<unknown>;
  _promise?: Promise<unknown>;
}

/** A mistake in the calling code, thrown at once (before anything runs): the message says what to do. */
function usage(code: string, message: string): TypeError & { code: string } {
  const err = new TypeError(message) as TypeError & { code: string };
  err.code = code;
  return err;
}

/**
 * Argins named like an input that was not given (`val` for `value`, `tll` for `ttl`) are almost surely a typo:
 * the runner would drop them with a warning and run without the value. They are refused at once instead, with
 * "did you mean". Other undeclared argins keep the runner's behaviour (a warning, then dropped), since callers
 * such as Sails adapters may pass keys a machine does not declare.
 */
function checkArgins(method: string, inputs: readonly string[], argins: unknown): void {
  if (!argins || typeof argins !== 'object') return;
  const given = argins as Record<string, unknown>;
  const missing = inputs.filter((name) => given[name] === undefined);
  const typos: string[] = [];
  for (const key of Object.keys(given)) {
    if (inputs.includes(key) || given[key] === undefined) continue;
    const match = closest(key, missing);
    if (match !== undefined) typos.push(`\`${key}\` (did you mean \`${match}\`?)`);
  }
  if (typos.length > 0)
    throw usage(
      ErrorCodes.INVALID_ARGINS,
      `${method}() has no input ${typos.join(', ')}. Its inputs are: ${inputs.join(', ')}.`,
    );
}

/** `.switch({...})` without an `error` handler would throw later and leave the call hanging: refuse it now. */
function checkedSwitch(method: string, original: ParleyDeferred['switch']) {
  return function (this: ParleyDeferred, handlers: unknown) {
    const h = handlers as Record<string, unknown> | undefined;
    if (!h || typeof h !== 'object' || typeof h.error !== 'function') {
      clearTimeout(this._execCountdown);
      throw usage(
        ErrorCodes.MISSING_ERROR_HANDLER,
        `${method}(...).switch({...}) needs an \`error\` handler: .switch({ error: (err) => …, success: (output) => … }). ` +
          'It receives failures no other handler takes (a bad input, an exit without a handler, a crash).',
      );
    }
    return original.call(this, handlers);
  };
}

function nowOnAsync(method: string) {
  return function (this: ParleyDeferred): never {
    clearTimeout(this._execCountdown);
    throw usage(
      ErrorCodes.NOT_SYNCHRONOUS,
      `${method}() is asynchronous: .now() works only on synchronous machines (createConnectionUrl). Use \`await\`, .exec(cb) or .switch({...}).`,
    );
  };
}

/**
 * `await` on a runner Deferred goes through `toPromise()`, which parley builds with `bluebird.promisify` per
 * call: most of the runner's cost. This one settles a native promise from `.exec()`: same outcome (the exit's
 * Exception, or the output), a fraction of the cost. Installed on the Deferreds of this pack only.
 */
function nativeToPromise(this: ParleyDeferred): Promise<unknown> {
  return (this._promise ??= new Promise((resolve, reject) =>
    this.exec((err, out) => (err ? reject(err) : resolve(out))),
  ));
}

type Callable = ((argins: unknown, cb?: unknown) => unknown) & Record<string, unknown>;

/** Build the runner's pack: each definition once, through `machine.pack`. */
export function buildRunnerPack<M extends Record<string, AnyMachine>>(name: string, machines: M): RunnerPack<M> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const runner = require('machine') as MachineRunner;
  const defs: Record<string, Record<string, unknown>> = {};
  for (const m of Object.values(machines)) defs[m.identity] = m.runnerDef();
  const pack = runner.pack({ name, defs });
  for (const m of Object.values(machines)) {
    const original = pack[m.methodName] as Callable;
    const inputs = Object.keys(m.def.inputs);
    const method = function (this: unknown, ...args: unknown[]) {
      checkArgins(m.methodName, inputs, args[0]);
      if (args.length > 1) return original.apply(this, args as [unknown, unknown]); // m(argins, cb): runs at once
      const deferred = original.apply(this, args as [unknown]) as ParleyDeferred;
      deferred.toPromise = nativeToPromise;
      deferred.switch = checkedSwitch(m.methodName, deferred.switch);
      if (!m.def.sync) deferred.now = deferred.execSync = nowOnAsync(m.methodName);
      return deferred;
    };
    // Keep what the runner hangs on its callables (getDef, customize, …).
    for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(original))) {
      if (!['length', 'name', 'prototype', 'arguments', 'caller'].includes(k)) Object.defineProperty(method, k, d);
    }
    pack[m.methodName] = method;
  }
  return pack as RunnerPack<M>;
}

export function buildPromisePack<M extends Record<string, AnyMachine>>(machines: M): PromisePack<M> {
  const out: Record<string, unknown> = {};
  for (const [k, m] of Object.entries(machines)) out[k] = m.call;
  return out as PromisePack<M>;
}
