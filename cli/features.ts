/**
 * Per-item revisions, a collection's status and its stats are being added to the facade (issue 16, items 1 and
 * 4). The command line and the page show them when the collection has them and work without them otherwise, so
 * they are detected here rather than assumed by the types.
 */
import type { Collection } from '../index';

/** What a collection may offer beyond `get`/`keys`/`size`. */
interface Extras {
  status?: unknown;
  stats?: () => unknown;
  entry?: (key: string) => { revision?: unknown } | undefined;
}

/** The revision of an item: from the listener's `info`, else from `collection.entry(key)`, else null (unknown). */
export function revisionOf(collection: Collection<object>, key: string, info?: unknown): number | null {
  const fromInfo = (info as { revision?: unknown } | undefined)?.revision;
  if (typeof fromInfo === 'number') return fromInfo;
  const entry = (collection as unknown as Extras).entry;
  if (typeof entry === 'function') {
    const revision = entry.call(collection, key)?.revision;
    if (typeof revision === 'number') return revision;
  }
  return null;
}

/** `collection.status` (`'loading'`, `'live'`, `'stale'`) when the facade has it. */
export function statusOf(collection: Collection<object>): string | undefined {
  const status = (collection as unknown as Extras).status;
  return typeof status === 'string' ? status : undefined;
}

/** `collection.stats()` when the facade has it (numbers only, so nothing else can leak onto the page). */
export function statsOf(collection: Collection<object>): Record<string, number> | undefined {
  const stats = (collection as unknown as Extras).stats;
  if (typeof stats !== 'function') return undefined;
  const raw = stats.call(collection) as Record<string, unknown> | undefined;
  if (!raw || typeof raw !== 'object') return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === 'number') out[k] = v;
  return out;
}
