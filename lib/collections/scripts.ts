/**
 * The Lua scripts behind replicated collections. Each write is one script, so the item, its TTL, the
 * collection's sequence number, the change log and the notification change together or not at all.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from '../connection/client';

/**
 * The publish command for a connection: sharded pub/sub (SPUBLISH, Redis 7+) on a Cluster, so notifications stay
 * on the collection's shard; plain PUBLISH elsewhere (it works on any Redis version).
 */
export function publishCommand(sharded: boolean): string {
  return sharded ? 'SPUBLISH' : 'PUBLISH';
}

/** Entries kept in a collection's change log (approximate: MAXLEN ~). */
export const LOG_LENGTH = 10000;

// KEYS: item, meta, log, index.
// ARGV: channel, candidate epoch, encoded key, ttl ms, payload, log length, PUBLISH or SPUBLISH, fields…
const SET = `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then epoch = ARGV[2]; redis.call('HSET', KEYS[2], 'epoch', epoch) end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'm:seq', seq)
for i = 8, #ARGV, 200 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 199, #ARGV)))
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('SADD', KEYS[4], ARGV[3])
-- Prune index entries of items that expired, a couple per write, so the index does not grow without bound.
local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[3])
for _, m in ipairs(redis.call('SRANDMEMBER', KEYS[4], 2)) do
  if redis.call('EXISTS', prefix .. m) == 0 then redis.call('SREM', KEYS[4], m) end
end
local msg = seq .. '\\n' .. epoch .. '\\ns\\n' .. ARGV[3] .. '\\n' .. ARGV[4] .. '\\n' .. ARGV[5]
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], seq .. '-0', 'm', msg)
redis.call(ARGV[7], ARGV[1], msg)
return seq
`;

// KEYS: item, meta, log, index. ARGV: channel, candidate epoch, encoded key, log length, PUBLISH or SPUBLISH.
const DELETE = `
if redis.call('DEL', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[3])
  return 0
end
redis.call('SREM', KEYS[4], ARGV[3])
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then epoch = ARGV[2]; redis.call('HSET', KEYS[2], 'epoch', epoch) end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local msg = seq .. '\\n' .. epoch .. '\\nd\\n' .. ARGV[3] .. '\\n0\\n'
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], seq .. '-0', 'm', msg)
redis.call(ARGV[5], ARGV[1], msg)
return seq
`;

export interface Script {
  source: string;
  sha: string;
}
function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}
export const scripts = { set: script(SET), delete: script(DELETE) };

/** Run a script by its SHA, loading it on NOSCRIPT (after a restart or on a new server). */
export async function run(client: RedisClient, s: Script, keys: string[], args: string[]): Promise<unknown> {
  try {
    return await client.evalSha(s.sha, { keys, arguments: args });
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return client.eval(s.source, { keys, arguments: args });
  }
}
