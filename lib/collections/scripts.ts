/**
 * The Lua scripts behind replicated collections.
 *
 * A write is one script, all-or-nothing: it checks everything that could fail (TTL range, the types of the keys
 * it touches, the log id it will add) and makes its first checked write (the log entry, or the index member that
 * tolerates a stale entry) before anything a reader could see, so Redis refusing it (out of memory, an ACL, a key
 * of the wrong type) leaves nothing half-written. Redis does not roll a script back: this order is what keeps it
 * whole. The write's deadline and stamp come from Redis's clock (`TIME`), never the writer's.
 *
 * A new epoch starts when the meta hash is missing (first write, a restart empty, FLUSHALL, an evicted meta). Its
 * sequence numbers start at 1 for a collection with nothing left of it, else above anything an older epoch can
 * have reached (Redis's time in ms × 1000). A log without a meta (an evicted meta) belongs to a lost epoch and is
 * dropped.
 *
 * An item's revision (`m:rev`) is the stamp `t` of the write that stored it (Redis `TIME` in µs), not the sequence
 * number: sequence numbers start again after a FLUSHALL, a restart empty or from an older snapshot, or an evicted
 * meta, but Redis's clock does not, so a revision is never handed out twice and a stale `ifRevision` conflicts.
 * A write's stamp is also raised above the current revision of every item it sets, so an item that survived
 * (eviction of the meta, a clock that went back) still sees its revision grow. Items written before `m:rev`
 * existed have their `m:seq` as revision.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from '../connection/client';
import { MAX_TTL_SECONDS } from './codec';

/**
 * The publish command for a connection: sharded pub/sub (SPUBLISH, Redis 7+) on a Cluster, so notifications stay
 * on the collection's shard; plain PUBLISH elsewhere (it works on any Redis version).
 */
export function publishCommand(sharded: boolean): string {
  return sharded ? 'SPUBLISH' : 'PUBLISH';
}

/** Entries kept in a collection's change log (approximate: MAXLEN ~). Entries carry no contents (~60 bytes). */
export const LOG_LENGTH = 10000;

/** Prefix of the errors our scripts raise themselves (a refused argument, a failed step). */
export const SCRIPT_ERROR = 'MEMIS';

// The part every write shares: the clock, the meta, the new sequence number and stamp, the log entry.
// KEYS: item, meta, log, index. ARGV[1] channel, ARGV[2] encoded key, ARGV[3] log length, ARGV[4] PUBLISH/SPUBLISH.
// Sets: nowMs, seq, t, pt, epoch, fresh; `addLog(changes)` appends the entry (first write that can be refused),
// `changes` = {op, encoded key, deadline, …}. `revisionOf(item key)` is an item's revision (0 when absent:
// `m:rev`, else `m:seq` for an item written before revisions were stamps); `above(rev)` raises `t` above it.
const HEADER = `
local MAXSAFE = 9007199254740991
-- An item's numbers (seq, revision, deadline) when its string starts exactly as the write scripts build it (the
-- grammar codec.ts decodes: 1-16 digits, no leading zero, at most 2^53 - 1); nil for anything else (not an item).
local function header(text)
  local s, r, d = string.match(text, '^{"s":([1-9]%d*),"r":([1-9]%d*),"d":(%d+),"v":')
  if not s or #s > 16 or #r > 16 or #d > 16 or (#d > 1 and string.sub(d, 1, 1) == '0') then return nil end
  s, r, d = tonumber(s), tonumber(r), tonumber(d)
  if s > MAXSAFE or r > MAXSAFE or d > MAXSAFE then return nil end
  return s, r, d
end
-- A whole number from 0 to 2^53 - 1 (a hash field of an earlier layout), else 0.
local function safeNumber(text)
  local n = tonumber(text or '')
  if n and n >= 0 and n <= MAXSAFE and n == math.floor(n) then return n end
  return 0
end
`;

const PROLOGUE = `${HEADER}
local function n2s(n) return string.format('%.0f', n) end
local clock = redis.call('TIME')
local nowMs = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local t = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local meta = redis.call('HMGET', KEYS[2], 'epoch', 'seq', 't')
local epoch, seq, pt = meta[1], tonumber(meta[2] or '0') or 0, tonumber(meta[3] or '0') or 0
local fresh = false
if not epoch then
  fresh = true
  epoch = n2s(t)
  pt = 0
  if redis.call('EXISTS', KEYS[3], KEYS[4]) == 0 then seq = 0 else seq = nowMs * 1000 end
end
seq = seq + 1
if t <= pt then t = pt + 1 end
local function revisionOf(key)
  local head = redis.pcall('GETRANGE', key, 0, 95)
  if type(head) == 'string' then
    local _, rev = header(head)
    return rev or 0 -- not an item of this pack (another program's string): absent, as copies see it
  end
  -- Not a string: an item of an older layout (a hash). Any other refusal (NOPERM…) is raised as it is; a key of
  -- another type makes HMGET refuse the write (WRONGTYPE) before anything is written.
  if not string.find(head.err or '', 'WRONGTYPE', 1, true) then return redis.call('GETRANGE', key, 0, 95) end
  local r = redis.call('HMGET', key, 'm:rev', 'm:seq')
  local rev = safeNumber(r[1])
  if rev == 0 then rev = safeNumber(r[2]) end
  return rev
end
-- The first command (name) of these that this user may not run, or nil (Redis 7+; older servers check as they go).
-- Checked before the first write, so a refusal by an ACL writes nothing.
local function denied(checks)
  if not redis.acl_check_cmd then return nil end
  for _, c in ipairs(checks) do
    if not redis.acl_check_cmd(unpack(c)) then return c[1] end
  end
  return nil
end
local function refused(name)
  return redis.error_reply("${SCRIPT_ERROR} nothing was written: NOPERM this user has no permissions to run the '" .. name .. "' command on the collection's keys")
end
-- An item as stored: one string, the write's sequence number, stamp and deadline, then the item's JSON.
local function itemValue(dl, payload)
  return '{"s":' .. n2s(seq) .. ',"r":' .. n2s(t) .. ',"d":' .. n2s(dl) .. ',"v":' .. payload .. '}'
end
local function above(rev)
  if t <= rev then t = rev + 1 end
end
local function addLog(changes)
  if fresh then redis.call('DEL', KEYS[3]) end
  local fields = {KEYS[3], 'MAXLEN', '~', ARGV[3], n2s(seq) .. '-0', 't', n2s(t)}
  for i = 1, #changes, 3 do
    fields[#fields + 1] = 'o'
    fields[#fields + 1] = changes[i]
    fields[#fields + 1] = 'k'
    fields[#fields + 1] = changes[i + 1]
    fields[#fields + 1] = 'd'
    fields[#fields + 1] = n2s(changes[i + 2])
  end
  local r = redis.pcall('XADD', unpack(fields))
  if type(r) == 'table' and r.err and (string.find(r.err, 'equal or smaller', 1, true) or string.find(r.err, 'WRONGTYPE', 1, true)) then
    -- A log ahead of the meta (or not a stream) is not this epoch's: drop it. Copies holding it resync.
    redis.call('DEL', KEYS[3])
    r = redis.pcall('XADD', unpack(fields))
  end
  if type(r) == 'table' and r.err then
    return redis.error_reply('${SCRIPT_ERROR} nothing was written: ' .. r.err)
  end
  if fresh then
    redis.call('HSET', KEYS[2], 'epoch', epoch, 'seq', n2s(seq), 't', n2s(t))
  else
    redis.call('HSET', KEYS[2], 'seq', n2s(seq), 't', n2s(t))
  end
  return nil
end
local function publish(msg)
  local r = redis.pcall(ARGV[4], ARGV[1], msg)
  if type(r) == 'table' and r.err then
    return redis.error_reply('${SCRIPT_ERROR} written as seq ' .. n2s(seq) .. ' but not published (copies catch up from the log): ' .. r.err)
  end
  return n2s(seq)
end
`;

// ARGV[5] ttl ms, ARGV[6] payload (the item as JSON: stored as the hash field `v` and published), ARGV[7] the
// revision the item must have ('' for none; 0: absent). Returns {seq, the item's new revision (the stamp)}, or
// {'conflict', current revision}.
const SET = `${PROLOGUE}
local ttl = tonumber(ARGV[5])
if not ttl or ttl < 0 or ttl > ${MAX_TTL_SECONDS * 1000} or ttl ~= math.floor(ttl) then
  return redis.error_reply('${SCRIPT_ERROR} nothing was written: bad ttl ' .. ARGV[5])
end
local current = revisionOf(KEYS[1])
if ARGV[7] and ARGV[7] ~= '' and current ~= tonumber(ARGV[7]) then return {'conflict', n2s(current)} end
above(current)
local dl = 0
if ttl > 0 then dl = nowMs + ttl end
local no = denied({{'SADD', KEYS[4], 'k'}, {'XADD', KEYS[3], '*', 't', '0'}, {'DEL', KEYS[3]}, {'HSET', KEYS[2], 'seq', '0'}, {'SET', KEYS[1], ''}, {'PEXPIREAT', KEYS[1], '0'}, {ARGV[4], ARGV[1], 'x'}})
if no then return refused(no) end
-- The index first: it checks the index's type and memory, and a stale member is harmless (loads prune it).
redis.call('SADD', KEYS[4], ARGV[2])
local err = addLog({'s', ARGV[2], dl})
if err then return err end
redis.call('SET', KEYS[1], itemValue(dl, ARGV[6]))
if dl > 0 then redis.call('PEXPIREAT', KEYS[1], dl) end
local published = publish(n2s(seq) .. '\\n' .. epoch .. '\\n' .. n2s(t) .. '\\n' .. n2s(pt) .. '\\ns\\n' .. ARGV[2] .. '\\n' .. n2s(dl) .. '\\n' .. ARGV[6])
if type(published) == 'table' then return published end
return {n2s(seq), n2s(t)}
`;

// ARGV[5] the revision the item must have ('' for none; 0: absent). Returns the new seq, 0 when there was no item,
// or {'conflict', current revision}.
const DELETE = `${PROLOGUE}
if ARGV[5] and ARGV[5] ~= '' then
  local current = revisionOf(KEYS[1])
  if current ~= tonumber(ARGV[5]) then return {'conflict', n2s(current)} end
end
local no = denied({{'XADD', KEYS[3], '*', 't', '0'}, {'DEL', KEYS[3]}, {'HSET', KEYS[2], 'seq', '0'}, {'DEL', KEYS[1]}, {'SREM', KEYS[4], 'k'}, {ARGV[4], ARGV[1], 'x'}})
if no then return refused(no) end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2]) -- a stale member, if any
  return 0
end
redis.call('SISMEMBER', KEYS[4], ARGV[2]) -- checks the index's type before any write
local err = addLog({'d', ARGV[2], 0})
if err then return err end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[4], ARGV[2])
return publish(n2s(seq) .. '\\n' .. epoch .. '\\n' .. n2s(t) .. '\\n' .. n2s(pt) .. '\\nd\\n' .. ARGV[2] .. '\\n0\\n')
`;

// A batch, all or nothing, as one write (one sequence number, one log entry, one notification).
// KEYS: first item, meta, log, index, then the item of each operation. ARGV[1] channel, ARGV[2] '', ARGV[3] log
// length, ARGV[4] PUBLISH/SPUBLISH, then 5 per operation: op ('s'/'d'), encoded key, ttl ms, required revision
// ('' for none), payload ('' for a delete). Returns {seq, revision per operation (the stamp for a set, 0 for a delete)},
// or {'conflict', operation number (from 1), current revision}. Keys are distinct (the caller refuses duplicates).
const WRITE = `${PROLOGUE}
local n = (#ARGV - 4) / 5
if n < 1 or n ~= math.floor(n) or #KEYS ~= n + 4 then
  return redis.error_reply('${SCRIPT_ERROR} nothing was written: bad operation list')
end
local ops = {}
for i = 1, n do
  local a = 4 + (i - 1) * 5
  local op, ttl = ARGV[a + 1], tonumber(ARGV[a + 3])
  if op ~= 's' and op ~= 'd' then return redis.error_reply('${SCRIPT_ERROR} nothing was written: bad operation ' .. op) end
  if op == 's' and (not ttl or ttl < 0 or ttl > ${MAX_TTL_SECONDS * 1000} or ttl ~= math.floor(ttl)) then
    return redis.error_reply('${SCRIPT_ERROR} nothing was written: bad ttl ' .. ARGV[a + 3])
  end
  ops[i] = {op = op, key = ARGV[a + 2], item = KEYS[4 + i], ttl = ttl, cond = ARGV[a + 4], payload = ARGV[a + 5]}
end
-- Every condition before anything is written.
for i, o in ipairs(ops) do
  if o.cond ~= '' or o.op == 's' then
    local current = revisionOf(o.item)
    if o.cond ~= '' and current ~= tonumber(o.cond) then return {'conflict', tostring(i), n2s(current)} end
    if o.op == 's' then above(current) end
  end
end
-- Every permission before anything is written (a missing item's stale index member is removed below too).
local checks = {{'SADD', KEYS[4], 'k'}, {'SREM', KEYS[4], 'k'}, {'XADD', KEYS[3], '*', 't', '0'}, {'DEL', KEYS[3]}, {'HSET', KEYS[2], 'seq', '0'}, {ARGV[4], ARGV[1], 'x'}}
for _, o in ipairs(ops) do
  if o.op == 's' then
    checks[#checks + 1] = {'SET', o.item, ''}
    checks[#checks + 1] = {'PEXPIREAT', o.item, '0'}
  else
    checks[#checks + 1] = {'DEL', o.item}
  end
end
local no = denied(checks)
if no then return refused(no) end
local changes, revisions = {}, {}
local message = {n2s(seq), epoch, n2s(t), n2s(pt)}
local function say(...) for _, part in ipairs({...}) do message[#message + 1] = part end end
for i, o in ipairs(ops) do
  revisions[i] = '0'
  if o.op == 's' then
    o.dl = 0
    if o.ttl > 0 then o.dl = nowMs + o.ttl end
    changes[#changes + 1] = 's'
    changes[#changes + 1] = o.key
    changes[#changes + 1] = o.dl
    say('s', o.key, n2s(o.dl), o.payload)
    revisions[i] = n2s(t)
  elseif redis.call('EXISTS', o.item) == 1 then
    o.live = true
    changes[#changes + 1] = 'd'
    changes[#changes + 1] = o.key
    changes[#changes + 1] = 0
    say('d', o.key, '0', '')
  else
    redis.call('SREM', KEYS[4], o.key)
  end
end
if #changes == 0 then return {'0', unpack(revisions)} end
-- The index first (it checks the index's type and memory; a stale member is harmless), then the log.
for _, o in ipairs(ops) do
  if o.op == 's' then redis.call('SADD', KEYS[4], o.key) else redis.call('SISMEMBER', KEYS[4], o.key) end
end
local err = addLog(changes)
if err then return err end
for _, o in ipairs(ops) do
  if o.op == 's' then
    redis.call('SET', o.item, itemValue(o.dl, o.payload))
    if o.dl > 0 then redis.call('PEXPIREAT', o.item, o.dl) end
  elseif o.live then
    redis.call('DEL', o.item)
    redis.call('SREM', KEYS[4], o.key)
  end
end
local published = publish(table.concat(message, '\\n'))
if type(published) == 'table' then return published end
return {n2s(seq), unpack(revisions)}
`;

// An item whatever its layout: its string (this layout), HGETALL pairs (an older layout: a hash), false (none), or ''
// for a key of another type (not an item). Only a hash costs a failed GET (WRONGTYPE) before it is read.
const READ_ITEM = `
local function readItem(key)
  local v = redis.pcall('GET', key)
  if type(v) ~= 'table' then return v end
  if not string.find(v.err or '', 'WRONGTYPE', 1, true) then return redis.call('GET', key) end
  if redis.call('TYPE', key).ok == 'hash' then return redis.call('HGETALL', key) end
  return '' -- a list, set, zset or stream: not an item (the copy skips it and counts it)
end
`;

/**
 * Items that MGET did not return as strings (missing, or stored in an older layout), whatever their layout.
 * KEYS: the item keys. Returns per key its string, HGETALL pairs, or nil (none).
 */
const READ_ANY = `${READ_ITEM}
local out = {}
for i = 1, #KEYS do out[i] = readItem(KEYS[i]) end
return out
`;

/**
 * The sequence number of each item (nil when gone), then Redis's clock (seconds, µs). KEYS: the item keys.
 */
const SEQS = `${HEADER}
local out = {}
for i = 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind == 'string' then
    local seq = header(redis.call('GETRANGE', KEYS[i], 0, 95))
    out[i] = seq and string.format('%.0f', seq) or false
  elseif kind == 'hash' then
    local seq = safeNumber(redis.call('HGET', KEYS[i], 'm:seq'))
    out[i] = seq > 0 and string.format('%.0f', seq) or false
  else
    out[i] = false
  end
end
local clock = redis.call('TIME')
out[#KEYS + 1] = clock[1]
out[#KEYS + 2] = clock[2]
return out
`;

/**
 * A catch-up, atomically: the meta, Redis's clock and, when the copy's position (`seq`, stamp) is still in this
 * epoch's log, the entries after it with the current contents of the items they name.
 * KEYS: meta, log. ARGV: epoch, seq, stamp, max entries, item key prefix.
 * Returns { status, seq, epoch, t, clock seconds, clock µs, entries, items } with status 'ok' (entries follow the
 * copy's position; items: key, then the item as READ_ITEM reads it…) or 'resync' (the log does not continue what the copy holds).
 */
const CATCH_UP = `${READ_ITEM}
local meta = redis.call('HMGET', KEYS[1], 'seq', 'epoch', 't')
local clock = redis.call('TIME')
local head = {meta[1] or '0', meta[2] or '', meta[3] or '0', clock[1], clock[2]}
local function answer(status, entries, items)
  return {status, head[1], head[2], head[3], head[4], head[5], entries or {}, items or {}}
end
if (meta[2] or '') ~= ARGV[1] then return answer('resync') end
local seq, last = tonumber(meta[1] or '0') or 0, tonumber(ARGV[2])
if seq < last then return answer('resync') end
if seq == last then
  if (meta[3] or '0') == ARGV[3] then return answer('ok') end
  return answer('resync')
end
local entries = redis.call('XRANGE', KEYS[2], ARGV[2] .. '-0', '+', 'COUNT', tonumber(ARGV[4]) + 1)
local first = entries[1]
if not first or first[1] ~= ARGV[2] .. '-0' then return answer('resync') end
local stamp
for i = 1, #first[2], 2 do if first[2][i] == 't' then stamp = first[2][i + 1] end end
if stamp ~= ARGV[3] then return answer('resync') end
table.remove(entries, 1)
local seen, items = {}, {}
for _, e in ipairs(entries) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'k' and not seen[f[i + 1]] then
      seen[f[i + 1]] = true
      items[#items + 1] = f[i + 1]
      items[#items + 1] = readItem(ARGV[5] .. f[i + 1])
    end
  end
end
return answer('ok', entries, items)
`;

/**
 * Drop index members whose item is gone (expired), atomically per member, so a write racing the pruning is never
 * lost from the index. KEYS: index. ARGV: item key prefix, members…
 */
const PRUNE = `
local n = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then n = n + redis.call('SREM', KEYS[1], ARGV[i]) end
end
return n
`;

export interface Script {
  source: string;
  sha: string;
}
function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}
export const scripts = {
  set: script(SET),
  delete: script(DELETE),
  write: script(WRITE),
  catchUp: script(CATCH_UP),
  prune: script(PRUNE),
  readAny: script(READ_ANY),
  seqs: script(SEQS),
};

/**
 * Scripts each connection is known to have loaded. Until a script is known on a connection it goes out as EVAL (its
 * full text): calls on one connection reach Redis in the order they were made, and a NOSCRIPT retry would go out
 * after later calls and reorder them (a `del` issued between two `set`s landing last). After a reconnect (a restarted
 * server has an empty script cache) nothing is known again.
 */
const loaded = new WeakMap<object, Set<string>>();

function knownScripts(client: RedisClient): Set<string> {
  let known = loaded.get(client);
  if (!known) {
    const set = new Set<string>();
    known = set;
    loaded.set(client, set);
    const events = client as unknown as { on?: (event: string, fn: () => void) => unknown };
    if (typeof events.on === 'function') events.on.call(client, 'ready', () => set.clear());
  }
  return known;
}

/** Run a script: EVAL until the connection is known to hold it, then EVALSHA (EVAL again after a NOSCRIPT). */
export async function run(client: RedisClient, s: Script, keys: string[], args: string[]): Promise<unknown> {
  const known = knownScripts(client);
  if (!known.has(s.sha)) {
    const reply = await client.eval(s.source, { keys, arguments: args });
    known.add(s.sha);
    return reply;
  }
  try {
    return await client.evalSha(s.sha, { keys, arguments: args });
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    known.delete(s.sha); // SCRIPT FLUSH on a live connection: the only case left where a retry can reorder calls
    return client.eval(s.source, { keys, arguments: args });
  }
}
