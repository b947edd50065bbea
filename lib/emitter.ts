/**
 * One small typed event model for the facade's client and its collections (mitt's `Emitter<Events>` idea, with
 * memis' chaining `on` and space-separated `multi`).
 *
 * An event map names each event and its listener's arguments; `on`, `once`, `off` and `multi` accept only those
 * names and listener types, checked by the compiler (`multi`'s string through template literal types) and again
 * at run time for JavaScript callers. Listeners are called with the emitter as `this`. A listener that throws
 * does not stop the others: the emitter's `listenerFailed` decides what happens to the error.
 */
import { redact } from './secrets';

/** Event name → the arguments its listeners get. */
export type EventMap = Record<string, unknown[]>;

/** A listener of event `K`, called with the emitter as `this`. */
export type ListenerOf<E extends EventMap, K extends keyof E, This> = (this: This, ...args: E[K]) => unknown;

/** The names in a space-separated list: `'expire delete'` → `'expire' | 'delete'` (extra spaces ignored). */
export type EventNames<S extends string> = S extends `${infer Head} ${infer Rest}`
  ? (Head extends '' ? never : Head) | EventNames<Rest>
  : S extends ''
    ? never
    : S;

/**
 * `S` when every name in the list is an event of `E`; otherwise a message type naming the first unknown ones,
 * so `multi('expire gone', fn)` fails to compile with "unknown event: gone".
 */
export type EventList<S extends string, Known extends string> = [EventNames<S>] extends [never]
  ? 'name at least one event'
  : [Exclude<EventNames<S>, Known>] extends [never]
    ? S
    : `unknown event: ${Exclude<EventNames<S>, Known>}`;

/**
 * An event name as a message shows it. Never throws: `JSON.stringify` would for a BigInt, a circular object or a
 * throwing `toJSON`, and says `undefined` for a Symbol. Long names are shortened.
 */
function showName(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  else if (typeof value === 'symbol') text = value.toString();
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (typeof value === 'function') text = 'a function';
  else if (value !== null && typeof value === 'object') text = 'an object';
  else text = String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

interface Entry {
  fn: (...args: unknown[]) => void;
  once: boolean;
}

/** The typed emitter behind `MemisClient` and `Collection`. */
export abstract class Emitter<E extends EventMap> {
  readonly #listeners = new Map<string, Entry[]>();

  /** The event names this emitter knows, for run-time checks and messages. */
  protected abstract readonly eventNames: readonly (keyof E & string)[];
  /** What it is, for messages: 'collection', 'client'. */
  protected abstract readonly emitterKind: string;

  /** What to do with an error thrown by a listener (it never reaches the emitter's caller). */
  protected abstract listenerFailed(err: Error, event: keyof E & string): void;

  /** Add a listener; returns the emitter, so calls chain (`c.on('set', f).on('delete', g)`). */
  on<K extends keyof E & string>(event: K, listener: ListenerOf<E, K, this>): this {
    return this.#add(event, listener, false, 'on');
  }

  /** Add a listener that is removed after its first call. */
  once<K extends keyof E & string>(event: K, listener: ListenerOf<E, K, this>): this {
    return this.#add(event, listener, true, 'once');
  }

  /** Remove a listener added with `on`, `once` or `multi` (every event it was added for when `event` is a list). */
  off<K extends keyof E & string>(event: K, listener: ListenerOf<E, K, this>): this {
    return this.#remove(event, listener, 'off');
  }

  /** Alias of `off`, as on Node's EventEmitter. */
  removeListener<K extends keyof E & string>(event: K, listener: ListenerOf<E, K, this>): this {
    return this.#remove(event, listener, 'removeListener');
  }

  /** An unknown event name throws, as in `on` (a typo would otherwise leave the listener in place silently). */
  #remove(event: string, listener: unknown, method: string): this {
    this.#check(event, method);
    const list = this.#listeners.get(event);
    if (!list) return this;
    const i = list.findIndex((e) => e.fn === (listener as Entry['fn']));
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  /** One listener for several events named in a space-separated string: `multi('expire delete', fn)`. */
  multi<S extends string>(
    events: EventList<S, keyof E & string>,
    listener: ListenerOf<E, EventNames<S> & keyof E, this>,
  ): this {
    const names = typeof events === 'string' ? events.split(/\s+/).filter(Boolean) : [];
    if (names.length === 0) throw new TypeError(`multi(events, listener): name at least one event (${this.#known()}).`);
    for (const name of names) this.#check(name, 'multi');
    if (typeof listener !== 'function')
      throw new TypeError('multi(events, listener): the listener must be a function.');
    for (const name of names) this.#add(name, listener, false, 'multi');
    return this;
  }

  /** How many listeners `event` has. */
  listenerCount(event: keyof E & string): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** Call the listeners of `event` with the emitter as `this`; returns whether there were any. */
  protected emit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) return false;
    // This runs once per change: one listener (the common case) is called without copying the list.
    if (list.length === 1) {
      const entry = list[0]!;
      if (entry.once) list.length = 0;
      this.#call(entry, event, args);
      return true;
    }
    // A copy, since a listener may add or remove listeners (itself among them).
    const entries = list.slice();
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.once) {
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
      }
      this.#call(entry, event, args);
    }
    return true;
  }

  #call(entry: Entry, event: keyof E & string, args: unknown[]): void {
    try {
      entry.fn.apply(this, args);
    } catch (err) {
      this.listenerFailed(err instanceof Error ? err : new Error(String(err)), event);
    }
  }

  #known(): string {
    return `known events: ${this.eventNames.join(', ')}`;
  }

  #check(event: unknown, method: string): void {
    if (typeof event !== 'string' || !(this.eventNames as readonly string[]).includes(event))
      throw new TypeError(
        redact(`Unknown ${this.emitterKind} event ${showName(event)} given to ${method}(); ${this.#known()}.`),
      );
  }

  #add(event: string, listener: unknown, once: boolean, method: string): this {
    this.#check(event, method);
    if (typeof listener !== 'function')
      throw new TypeError(redact(`${method}(${showName(event)}, listener): the listener must be a function.`));
    let list = this.#listeners.get(event);
    if (!list) this.#listeners.set(event, (list = []));
    list.push({ fn: listener as Entry['fn'], once });
    return this;
  }
}
