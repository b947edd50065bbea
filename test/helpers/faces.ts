/**
 * The two faces under one interface, so one contract suite runs against both.
 */
import Pack from '../../index';
import type { Machines } from '../../lib/machines';

export type Outcome = {
  exit: string;
  output?: unknown;
  raw?: unknown;
  error?: Error & { code?: string; exit?: string };
};

export interface Face {
  name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call(method: keyof Machines, argins: any): Promise<any>;
}

export const faces: Face[] = [
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  { name: 'runner (await)', call: (method, argins) => Promise.resolve((Pack as any)[method](argins)) },
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  { name: 'promises', call: (method, argins) => (Pack.promises as any)[method](argins) },
];

/** Run a call and report which exit it took. Non-success exits reject with `exit` and `raw` on both faces. */
export async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { exit: 'success', output: await p };
  } catch (err) {
    const e = err as Error & { exit?: string; raw?: unknown; name: string };
    if (e.name === 'Exception' && e.exit) return { exit: e.exit, raw: e.raw, error: e };
    return { exit: 'error', error: e };
  }
}
