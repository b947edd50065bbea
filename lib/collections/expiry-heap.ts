/**
 * The deadlines of a copy's items: an indexed binary min-heap with one entry per key.
 *
 * Setting a key's deadline again moves its entry (no stale duplicates), so a hot item re-set with a TTL over and
 * over costs one entry, not one per write.
 */
export class ExpiryHeap {
  readonly #at: number[] = [];
  readonly #keys: string[] = [];
  readonly #index = new Map<string, number>();

  get size(): number {
    return this.#at.length;
  }

  /** The earliest deadline, or undefined when empty. */
  peek(): number | undefined {
    return this.#at[0];
  }

  /** The deadline held for `key`, or undefined. */
  get(key: string): number | undefined {
    const i = this.#index.get(key);
    return i === undefined ? undefined : this.#at[i];
  }

  /** Set (or move) `key`'s deadline. */
  set(key: string, at: number): void {
    const i = this.#index.get(key);
    if (i === undefined) {
      this.#at.push(at);
      this.#keys.push(key);
      this.#index.set(key, this.#at.length - 1);
      this.#up(this.#at.length - 1);
      return;
    }
    const old = this.#at[i]!;
    this.#at[i] = at;
    if (at < old) this.#up(i);
    else if (at > old) this.#down(i);
  }

  /** Forget `key`; false when it had no deadline. */
  delete(key: string): boolean {
    const i = this.#index.get(key);
    if (i === undefined) return false;
    this.#removeAt(i);
    return true;
  }

  /** Remove and return the earliest entry. */
  pop(): [at: number, key: string] | undefined {
    if (this.#at.length === 0) return undefined;
    const top: [number, string] = [this.#at[0]!, this.#keys[0]!];
    this.#removeAt(0);
    return top;
  }

  clear(): void {
    this.#at.length = 0;
    this.#keys.length = 0;
    this.#index.clear();
  }

  #removeAt(i: number): void {
    const last = this.#at.length - 1;
    this.#index.delete(this.#keys[i]!);
    if (i !== last) {
      this.#at[i] = this.#at[last]!;
      this.#keys[i] = this.#keys[last]!;
      this.#index.set(this.#keys[i]!, i);
    }
    this.#at.pop();
    this.#keys.pop();
    if (i < this.#at.length) {
      this.#up(i);
      this.#down(i);
    }
  }

  #up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.#at[p]! <= this.#at[i]!) break;
      this.#swap(i, p);
      i = p;
    }
  }

  #down(i: number): void {
    const n = this.#at.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#at[l]! < this.#at[m]!) m = l;
      if (r < n && this.#at[r]! < this.#at[m]!) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }

  #swap(a: number, b: number): void {
    const at = this.#at[a]!;
    this.#at[a] = this.#at[b]!;
    this.#at[b] = at;
    const k = this.#keys[a]!;
    this.#keys[a] = this.#keys[b]!;
    this.#keys[b] = k;
    this.#index.set(this.#keys[a]!, a);
    this.#index.set(this.#keys[b]!, b);
  }
}

export { MAX_TIMER_MS, timerDelay } from '../timers';
