/**
 * What the command line and the page show beyond an item's data: its revision, and a collection's status and
 * stats, read from the facade (`collection.entry(key)`, `collection.status`, `collection.stats()`).
 */
import type { Collection } from '../index';

/** The revision of an item: from the listener's `info`, else from `collection.entry(key)`, else null (unknown). */
export function revisionOf(collection: Collection<object>, key: string, info?: unknown): number | null {
  const fromInfo = (info as { revision?: unknown } | undefined)?.revision;
  if (typeof fromInfo === 'number') return fromInfo;
  const revision = collection.entry(key)?.revision;
  return typeof revision === 'number' ? revision : null;
}

/** `collection.status`: `'loading'`, `'live'` or `'stale'`. */
export function statusOf(collection: Collection<object>): string {
  return collection.status;
}

/** `collection.stats()`, numbers only (so nothing else can leak onto the page). */
export function statsOf(collection: Collection<object>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(collection.stats())) if (typeof v === 'number') out[k] = v;
  return out;
}
