/**
 * The typed define-machine helper: one definition, two faces.
 *
 * A definition is data (friendlyName, description, inputs, exits) plus an `fn` that RETURNS the exit it takes
 * (`return exits.notFound()`), so an exit can never fire twice and a forgotten exit is a type error. From it we
 * build the runner's definition (for `machine`'s `.exec` / `.switch` / `await`) and a plain async function (the
 * `promises` face) that skips the runner's per-call cost but keeps its contract.
 */
import { exitError, usageError } from './errors';

type Presence = 'required' | 'optional' | 'defaulted';

/** Documentation every input carries (what tools that read machine definitions show). */
export interface InputMeta {
  friendlyName?: string;
  description: string;
  extendedDescription?: string;
  moreInfoUrl?: string;
  /** Shown by documentation tools; never used for coercion (every input is a `ref`, validated by the machine). */
  example?: unknown;
  whereToGet?: { description: string };
}

/** An input of type `T`. `P` says whether callers must give it, may omit it, or get a default. */
export interface InputDef<T, P extends Presence> extends InputMeta {
  type: 'ref';
  required?: boolean;
  defaultsTo?: T;
  /** Phantom: never set. Carries `T` and `P` to the type checker. */
  readonly __input?: { type: T; presence: P };
}

/** Documentation every exit carries. */
export interface ExitMeta {
  friendlyName?: string;
  description: string;
  extendedDescription?: string;
  outputFriendlyName?: string;
  outputDescription?: string;
  outputExample?: unknown;
  outputVariableName?: string;
}

/** An exit whose output is `O` (`void`: no output). */
export interface ExitDef<O> extends ExitMeta {
  readonly __output?: { type: O };
}

/**
 * Inputs are declared as references (`type: 'ref'`): the runner then neither coerces nor deep-clones them, and
 * the machine's own checks give both faces the same errors.
 */
export function required<T>(meta: InputMeta): InputDef<T, 'required'> {
  return { ...meta, type: 'ref', required: true };
}
/**
 * Required at the type level, but not for the runner, which refuses `null` and `''` for required inputs: use it
 * for inputs where those are valid values (the machine then checks for `undefined` itself).
 */
export function requiredAllowingEmpty<T>(meta: InputMeta): InputDef<T, 'required'> {
  return { ...meta, type: 'ref' };
}
export function optional<T>(meta: InputMeta): InputDef<T, 'optional'> {
  return { ...meta, type: 'ref' };
}
export function defaulted<T>(defaultsTo: T, meta: InputMeta): InputDef<T, 'defaulted'> {
  return { ...meta, type: 'ref', defaultsTo };
}
export function exit<O = void>(meta: ExitMeta): ExitDef<O> {
  return { ...meta };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyInput = InputDef<any, Presence>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyExit = ExitDef<any>;
export type InputDefs = Record<string, AnyInput>;
export type ExitDefs = { success: AnyExit } & Record<string, AnyExit>;

type TypeOf<D> = D extends InputDef<infer T, Presence> ? T : never;
type PresenceOf<D> = D extends InputDef<unknown, infer P> ? P : never;
type KeysWhere<I extends InputDefs, P extends Presence> = {
  [K in keyof I]: PresenceOf<I[K]> extends P ? K : never;
}[keyof I];
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** What a caller passes: required inputs must be there, the others may be omitted. */
export type ArginsOf<I extends InputDefs> = Simplify<
  { [K in KeysWhere<I, 'required'>]: TypeOf<I[K]> } & { [K in KeysWhere<I, 'optional' | 'defaulted'>]?: TypeOf<I[K]> }
>;
/** What `fn` receives: defaults applied. */
export type InputsOf<I extends InputDefs> = Simplify<
  { [K in KeysWhere<I, 'required' | 'defaulted'>]: TypeOf<I[K]> } & { [K in KeysWhere<I, 'optional'>]?: TypeOf<I[K]> }
>;
export type OutputOf<D> = D extends ExitDef<infer O> ? O : never;

/** The exit an `fn` takes, with its output. */
export class Outcome<K extends string = string, O = unknown> {
  constructor(
    readonly exit: K,
    readonly output: O,
  ) {}
}
export type OutcomeOf<E extends ExitDefs> = { [K in keyof E & string]: Outcome<K, OutputOf<E[K]>> }[keyof E & string];
/** `exits.<name>(output)` builds the outcome to return. Only declared exits exist, each with its output type. */
export type ExitBuilders<E extends ExitDefs> = {
  [K in keyof E & string]: [OutputOf<E[K]>] extends [void]
    ? () => Outcome<K, undefined>
    : (output: OutputOf<E[K]>) => Outcome<K, OutputOf<E[K]>>;
};
/** Names of the exits other than `success`. */
export type OtherExits<E extends ExitDefs> = Exclude<keyof E & string, 'success'>;

/**
 * How the machine was called: through the `machine` runner (`Pack.<machine>`: `.exec`, `.switch`, `await`,
 * `m(argins, cb)`) or through `Pack.promises`. Machines whose defaults differ by face read it (getConnection:
 * see README "Migrating from machinepack-redis").
 */
export interface CallContext {
  face: 'runner' | 'promises';
}
const RUNNER_CONTEXT: CallContext = Object.freeze({ face: 'runner' });
const PROMISES_CONTEXT: CallContext = Object.freeze({ face: 'promises' });

export interface MachineDef<I extends InputDefs, E extends ExitDefs, Sync extends boolean = false> {
  friendlyName: string;
  description: string;
  extendedDescription?: string;
  moreInfoUrl?: string;
  sideEffects?: 'cacheable' | 'idempotent';
  sync?: Sync;
  /**
   * `fn` never catches what an exit builder throws (no `try` around `return exits.x()`, no `.catch` after it).
   * The promise face may then hand it builders that return the success output as it is and throw the `Exception`
   * of any other exit, and use `fn`'s promise as the call's own: one promise and one hop fewer per call.
   */
  directExits?: boolean;
  inputs: I;
  exits: E;
  fn: (
    inputs: InputsOf<I>,
    exits: ExitBuilders<E>,
    context: CallContext,
    // An asynchronous machine may also return its outcome directly when it has it at once (a near-cache hit):
    // both faces take a plain outcome as well as a promise of one, and it saves a promise and a hop per call.
  ) => Sync extends true ? OutcomeOf<E> : Promise<OutcomeOf<E>> | OutcomeOf<E>;
}

/** A built definition: the metadata, plus the promise face and a factory for the runner's definition. */
export interface Machine<I extends InputDefs, E extends ExitDefs, Sync extends boolean = false> {
  readonly identity: string;
  readonly methodName: string;
  readonly def: MachineDef<I, E, Sync>;
  /** The `promises` face: resolves with the success output; any other exit rejects with an `Exception`. */
  readonly call: (argins: ArginsOf<I>) => Promise<OutputOf<E['success']>>;
  /** A fresh definition for `machine` (the runner mutates what it is given). */
  runnerDef(): Record<string, unknown>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyMachine = Machine<any, any, boolean>;

function camel(identity: string): string {
  return identity.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function exitBuilders<E extends ExitDefs>(exits: E): ExitBuilders<E> {
  const builders: Record<string, (output?: unknown) => Outcome> = {};
  for (const name of Object.keys(exits)) builders[name] = (output?: unknown) => new Outcome(name, output);
  return builders as ExitBuilders<E>;
}

/**
 * Define a machine. `identity` is kebab-case (`get-cached-value`); the method is its camelCase.
 * @example
 * export default defineMachine('get-thing', { friendlyName: 'Get thing', description: '…',
 *   inputs: { key: required<string>({ description: 'The key.' }) },
 *   exits: { success: exit<{ value: string }>({ description: 'Found.' }), notFound: exit({ description: 'None.' }) },
 *   fn: async (inputs, exits) => exits.notFound() });
 */
export function defineMachine<I extends InputDefs, E extends ExitDefs, Sync extends boolean = false>(
  identity: string,
  def: MachineDef<I, E, Sync>,
): Machine<I, E, Sync> {
  const methodName = camel(identity);
  const builders = exitBuilders(def.exits);
  const inputNames = Object.keys(def.inputs);
  const requiredNames = inputNames.filter((n) => def.inputs[n]!.required === true);
  const defaults = inputNames
    .filter((n) => def.inputs[n]!.defaultsTo !== undefined)
    .map((n) => [n, def.inputs[n]!.defaultsTo] as const);
  const fn = def.fn as (
    inputs: Record<string, unknown>,
    exits: unknown,
    context: CallContext,
  ) => Outcome | Promise<Outcome>;

  // The promise face's builders for `directExits` machines: what `settle` would make of each outcome, at once.
  const direct: Record<string, (output?: unknown) => unknown> | undefined = def.directExits ? {} : undefined;
  if (direct)
    for (const name of Object.keys(def.exits))
      direct[name] =
        name === 'success'
          ? (output?: unknown) => output
          : (output?: unknown) => {
              throw exitError(methodName, name, def.exits[name]?.description ?? '', output);
            };

  function settle(outcome: Outcome): unknown {
    if (!(outcome instanceof Outcome)) {
      throw new TypeError(`\`${methodName}\` did not return an exit (got ${typeof outcome}).`);
    }
    if (outcome.exit === 'success') return outcome.output;
    throw exitError(methodName, outcome.exit, def.exits[outcome.exit]?.description ?? '', outcome.output);
  }

  // The promise face mirrors the runner: `required` inputs are checked by the runner's rules (undefined, '' and
  // null are refused), defaults applied, extra values ignored.
  function prepare(argins: unknown): Record<string, unknown> {
    if (argins === null || typeof argins !== 'object' || Array.isArray(argins)) {
      throw usageError(methodName, [
        'Expected a dictionary of inputs, got ' + (argins === null ? 'null' : typeof argins) + '.',
      ]);
    }
    const given = argins as Record<string, unknown>;
    let problems: string[] | undefined;
    for (const name of requiredNames) {
      const v = given[name];
      if (v === undefined) (problems ??= []).push(`"${name}" is required, but it was not defined.`);
      else if (v === '')
        (problems ??= []).push(`Invalid "${name}":  Cannot use '' (empty string) for a required input.`);
      else if (v === null) (problems ??= []).push(`Invalid "${name}":  Cannot use \`null\` for this required input.`);
    }
    if (problems) throw usageError(methodName, problems);
    if (defaults.length === 0) return given;
    const inputs = { ...given };
    for (const [name, value] of defaults) if (inputs[name] === undefined) inputs[name] = value;
    return inputs;
  }

  // No async wrapper: an async function here would allocate its own promise and add an `await` hop on every call,
  // on top of the machine's. `fn`'s promise is continued once with `settle`; a synchronous throw (bad inputs, or
  // `fn` throwing before its first await) becomes a rejection, as it would inside an async function.
  const callDirect = ((argins: unknown) => {
    let result: unknown;
    try {
      result = fn(prepare(argins), direct, PROMISES_CONTEXT);
    } catch (err) {
      return Promise.reject(err);
    }
    return result instanceof Promise ? result : Promise.resolve(result);
  }) as Machine<I, E, Sync>['call'];
  const call = ((argins: unknown) => {
    let result: Outcome | Promise<Outcome>;
    try {
      result = fn(prepare(argins), builders, PROMISES_CONTEXT);
      if (!(result instanceof Promise)) return Promise.resolve(settle(result));
    } catch (err) {
      return Promise.reject(err);
    }
    return result.then(settle);
  }) as Machine<I, E, Sync>['call'];

  function runnerDef(): Record<string, unknown> {
    const { fn: _fn, inputs, exits, directExits: _direct, ...meta } = def;
    void _fn;
    void _direct;
    const clone = <T extends object>(o: Record<string, T>) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { ...v }]));
    return {
      ...meta,
      inputs: clone(inputs),
      exits: clone(exits),
      fn(inputs: Record<string, unknown>, runnerExits: Record<string, (o?: unknown) => void>) {
        const deliver = (o: Outcome) => {
          if (!(o instanceof Outcome))
            return runnerExits.error!(new TypeError(`\`${methodName}\` did not return an exit.`));
          return runnerExits[o.exit]!(o.output);
        };
        let result: Outcome | Promise<Outcome>;
        try {
          result = fn(inputs, builders, RUNNER_CONTEXT);
        } catch (err) {
          return runnerExits.error!(err);
        }
        if (result instanceof Promise) result.then(deliver, (err: unknown) => runnerExits.error!(err));
        else deliver(result);
      },
    };
  }

  return { identity, methodName, def, call: direct ? callDirect : call, runnerDef };
}
