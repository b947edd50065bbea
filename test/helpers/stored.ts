/**
 * Reading an item as Redis stores it (README "Storage layout"), whatever its layout, for assertions: a string in
 * the current layout, a hash for items written by earlier versions.
 */
import { decodeStored, type StoredItem } from '../../lib/collections/codec';

/** The few commands this needs, as any node-redis client has them. */
interface Reader {
  type(key: string): Promise<unknown>;
  get(key: string): Promise<unknown>;
  hGetAll(key: string): Promise<unknown>;
}

/** The item at this Redis key, decoded (undefined when there is none). */
export async function storedItem(r: Reader, key: string): Promise<StoredItem | undefined> {
  const type = String(await r.type(key));
  if (type === 'string') return decodeStored(String(await r.get(key)));
  if (type === 'hash')
    return decodeStored(
      Object.entries((await r.hGetAll(key)) as Record<string, string>)
        .flat()
        .map(String),
    );
  return undefined;
}
