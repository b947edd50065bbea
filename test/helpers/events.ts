import type { Collection } from '../../index';

export interface Recorded {
  type: 'set' | 'expire' | 'delete';
  key: string;
  data: unknown;
  at: number;
}

/** Record every event of a collection. */
export function record<T extends object>(c: Collection<T>): Recorded[] {
  const events: Recorded[] = [];
  for (const type of ['set', 'expire', 'delete'] as const)
    c.on(type, (key, data) => events.push({ type, key, data, at: Date.now() }));
  return events;
}

/** Poll `check` until it returns true, or fail after `ms` with `what`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
