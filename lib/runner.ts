/**
 * Typings for the `machine` runner (it ships none) and the typed pack built with it.
 */
import type { AnyMachine, ArginsOf, ExitDefs, InputDefs, Machine, OtherExits, OutputOf } from './define';

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
  now: Sync extends true ? () => OutputOf<E['success']> : never;
  /** Deprecated alias of `now()`. */
  execSync: Sync extends true ? () => OutputOf<E['success']> : never;
}

/** A machine as the runner exposes it: `m(argins)` (lazy) or `m(argins, cb)` (runs at once). */
export interface RunnerMethod<I extends InputDefs, E extends ExitDefs, Sync extends boolean> {
  (argins: ArginsOf<I>): Deferred<E, Sync>;
  (argins: ArginsOf<I>, cb: (err: Error | null | undefined, output?: OutputOf<E['success']>) => void): void;
}

export type RunnerPack<M extends Record<string, AnyMachine>> = {
  [K in keyof M]: M[K] extends Machine<infer I, infer E, infer S> ? RunnerMethod<I, E, S> : never;
};
export type PromisePack<M extends Record<string, AnyMachine>> = {
  [K in keyof M]: M[K]['call'];
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
  exec(cb: (err: unknown, out?: unknown) => void): void;
  toPromise(): Promise<unknown>;
  _promise?: Promise<unknown>;
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
    const method = function (this: unknown, ...args: unknown[]) {
      if (args.length > 1) return original.apply(this, args as [unknown, unknown]); // m(argins, cb): runs at once
      const deferred = original.apply(this, args as [unknown]) as ParleyDeferred;
      deferred.toPromise = nativeToPromise;
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
