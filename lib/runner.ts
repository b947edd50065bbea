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
    customize?: Record<string, unknown>;
  }): Record<string, unknown>;
}

/**
 * What the runner checks in argins by default (`arginValidationTactic: 'coerceAndCloneOrError'`,
 * `extraArginsTactic: 'warnAndOmit'`), per input and per call (lodash `pick` of the validation rules, `rttc` and
 * `anchor`, and the garbage they make): skipping them halved the CPU of a runner round trip (bench/profile.ts).
 * For inputs of type `ref` that declare nothing but these keys (no validation rule: all of ours), the outcome of
 * those checks is known from the argins alone: a required input that is `undefined`, `''` or `null` is refused, a
 * key that is no input is warned about and dropped, and anything else passes unchanged.
 */
const PLAIN_INPUT_KEYS: ReadonlySet<string> = new Set([
  'type',
  'required',
  'defaultsTo',
  'friendlyName',
  'description',
  'extendedDescription',
  'moreInfoUrl',
  'example',
  'whereToGet',
]);

/**
 * The runner's shallow copy of `argins` if it would pass the runner's checks unchanged (see PLAIN_INPUT_KEYS);
 * undefined when the runner has something to say (a missing input, a key that is no input, not a dictionary) or
 * something to copy (an omitted input whose default is an object): then the call goes through the checking runner,
 * which does it in its own way.
 */
function checkedCopy(
  argins: unknown,
  inputs: ReadonlySet<string>,
  required: readonly string[],
  objectDefaults: readonly string[],
): Record<string, unknown> | undefined {
  if (argins === null || typeof argins !== 'object' || Array.isArray(argins)) return undefined;
  // The runner's own first step: `_.extend({}, argins)` (own enumerable properties).
  const copy: Record<string, unknown> = { ...(argins as Record<string, unknown>) };
  for (const key in copy) if (copy[key] !== undefined && !inputs.has(key)) return undefined;
  for (const name of required) {
    const v = copy[name];
    if (v === undefined || v === '' || v === null) return undefined;
  }
  // The checking runner gives each call its own deep copy of an object default (createManager's `meta: {}`).
  for (const name of objectDefaults) if (copy[name] === undefined) return undefined;
  return copy;
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
  const fastDefs: Record<string, Record<string, unknown>> = {};
  for (const m of Object.values(machines)) {
    defs[m.identity] = m.runnerDef();
    fastDefs[m.identity] = m.runnerDef(); // the runner mutates what it is given: a definition per pack
  }
  const pack = runner.pack({ name, defs });
  // The same machines, built to skip the runner's argin checks: only ever given argins that pass them unchanged
  // (checkedCopy), so every call has the outcome it has through `pack`, for about half the CPU per call.
  const fast = runner.pack({
    name,
    defs: fastDefs,
    customize: { arginValidationTactic: 'doNotCheck', extraArginsTactic: 'doNotCheck' },
  });
  // Default argins set with `Pack.configure({...})` are applied by the checking runner (deep-copied where it
  // copies them): once there are any, every call goes through it.
  let configured = false;
  const configure = pack.configure as (this: unknown, argins: unknown) => unknown;
  pack.configure = function (this: unknown, argins: unknown) {
    configured = true;
    return configure.call(this, argins);
  };
  for (const m of Object.values(machines)) {
    const original = pack[m.methodName] as Callable;
    const unchecked = fast[m.methodName] as Callable;
    const inputs = Object.keys(m.def.inputs);
    const inputSet = new Set(inputs);
    const required = inputs.filter((n) => m.def.inputs[n]!.required === true);
    const objectDefaults = inputs.filter((n) => {
      const d: unknown = m.def.inputs[n]!.defaultsTo;
      return d !== null && typeof d === 'object';
    });
    // Only inputs the runner passes through unchanged: type `ref`, no validation rule (every input of this pack).
    const skippable = inputs.every((n) => {
      const def = m.def.inputs[n] as unknown as Record<string, unknown>;
      return def.type === 'ref' && Object.keys(def).every((k) => PLAIN_INPUT_KEYS.has(k));
    });
    // parley's `switch` is its prototype's: checked once, not per call.
    let plainSwitch: ParleyDeferred['switch'] | undefined;
    let safeSwitch: ParleyDeferred['switch'] | undefined;
    const now = m.def.sync ? undefined : nowOnAsync(m.methodName);
    const method = function (this: unknown, ...args: unknown[]) {
      checkArgins(m.methodName, inputs, args[0]);
      const copy = skippable && !configured ? checkedCopy(args[0], inputSet, required, objectDefaults) : undefined;
      const target = copy ? unchecked : original;
      if (copy) args[0] = copy;
      // m(argins, cb): runs at once. m(argins, undefined) (a wrapper passing on an optional callback) is the
      // deferred form, guarded like m(argins).
      if (args.length > 1 && args[1] !== undefined) return target.apply(this, args as [unknown, unknown]);
      const deferred = target.apply(this, [args[0]] as [unknown]) as ParleyDeferred;
      deferred.toPromise = nativeToPromise;
      if (deferred.switch !== plainSwitch) {
        plainSwitch = deferred.switch;
        safeSwitch = checkedSwitch(m.methodName, plainSwitch);
      }
      deferred.switch = safeSwitch!;
      if (now) deferred.now = deferred.execSync = now;
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
