/**
 * The Lua scripts of the Redis engine. Each engine operation is one script, so each costs
 * one round trip whatever the number of subscribers, queued messages or channels.
 *
 * Key layout (P = the engine's prefix, `id` = a client id, `mid` = a message id):
 *
 *   {P:id}:s        hash   c = '1' once connected, h = id of the process holding its connect ('' if none)
 *   {P:id}:q        list   message ids queued for the session, oldest first
 *   {P:id}:subs     set    the session's subscriptions (exact and wildcard patterns)
 *   {P:id}:u, :ub   lists  with acknowledged delivery (`a` = '1' in :s, batch counter `b`):
 *                          ids sent but not acknowledged, and the batch number of each
 *   P:exp           zset   every session, scored by the epoch ms after which the sweep removes it
 *   P:ch:<channel>  set    client ids subscribed to a channel or pattern
 *   P:m:<mid>       hash   p = payload (stored once per publish), n = queues still holding it; TTL as a safety net
 *   P:mid           string message id counter
 *   P:sweep         string sweep lock (SET NX PX), held by one process per sweep interval
 *
 * Pub/sub: one channel per process, `P:w:<process id>`. A message there is either a comma-
 * separated list of client ids to wake, `!<reason>:<client id>` (a session this process
 * holds was removed elsewhere), or `` (an empty barrier message, see RedisEngine.barrier).
 *
 * The per-session keys share one hash slot (`{P:id}`); the channel sets, message hashes and
 * the expiry set do not, so these scripts need a single Redis (or Sentinel). See
 * docs/scaling.md for Redis Cluster.
 */

/** Helpers shared by every script. ARGV[1] is always the prefix. */
const LIB = `
local P = ARGV[1]
local function base(id) return '{' .. P .. ':' .. id .. '}' end
local function unref(mid)
  local mk = P .. ':m:' .. mid
  if redis.call('HINCRBY', mk, 'n', -1) <= 0 then redis.call('DEL', mk) end
end
local function store(payload, n, ttl)
  local mid = redis.call('INCR', P .. ':mid')
  local mk = P .. ':m:' .. mid
  redis.call('HSET', mk, 'p', payload, 'n', n)
  redis.call('PEXPIRE', mk, ttl)
  return mid
end
-- Appends the session's mail to out; false when there was none. Without acknowledged
-- delivery that is the queue, emptied. With it, the queue becomes a new batch of the
-- unacknowledged list ({P:id}:u, batch numbers in {P:id}:ub), and all of that list is
-- returned (kept until acknowledged); out[batchAt] gets the latest batch number.
local function take(b, out, batchAt)
  local q = b .. ':q'
  local ids = redis.call('LRANGE', q, 0, -1)
  if redis.call('HGET', b .. ':s', 'a') == '1' then
    if #ids > 0 then
      redis.call('DEL', q)
      local batch = redis.call('HINCRBY', b .. ':s', 'b', 1)
      for _, mid in ipairs(ids) do
        redis.call('RPUSH', b .. ':u', mid)
        redis.call('RPUSH', b .. ':ub', batch)
      end
    end
    local sent = redis.call('LRANGE', b .. ':u', 0, -1)
    if #sent == 0 then return false end
    for _, mid in ipairs(sent) do
      local p = redis.call('HGET', P .. ':m:' .. mid, 'p')
      if p then out[#out + 1] = p end
    end
    if batchAt then out[batchAt] = tonumber(redis.call('HGET', b .. ':s', 'b')) end
    return true
  end
  if #ids == 0 then return false end
  redis.call('DEL', q)
  for _, mid in ipairs(ids) do
    local p = redis.call('HGET', P .. ':m:' .. mid, 'p')
    if p then out[#out + 1] = p end
    unref(mid)
  end
  return true
end
-- Drops the oldest entries beyond max; returns how many.
local function trim(b, len, max)
  local over = len - max
  if over <= 0 then return 0 end
  local q = b .. ':q'
  local dropped = redis.call('LRANGE', q, 0, over - 1)
  redis.call('LTRIM', q, over, -1)
  for _, d in ipairs(dropped) do unref(d) end
  return over
end
local function holder(b)
  local h = redis.call('HGET', b .. ':s', 'h')
  if h and h ~= '' then return h end
  return false
end
local function removeSession(b, id)
  for _, c in ipairs(redis.call('SMEMBERS', b .. ':subs')) do redis.call('SREM', P .. ':ch:' .. c, id) end
  for _, mid in ipairs(redis.call('LRANGE', b .. ':q', 0, -1)) do unref(mid) end
  for _, mid in ipairs(redis.call('LRANGE', b .. ':u', 0, -1)) do unref(mid) end
  local h = holder(b)
  redis.call('DEL', b .. ':s', b .. ':q', b .. ':subs', b .. ':u', b .. ':ub')
  redis.call('ZREM', P .. ':exp', id)
  return h
end
`;

function script(body: string): string {
  return LIB + body;
}

/** Script name → [number of KEYS, Lua]. KEYS[1] is the session hash `{P:id}:s` where there is one. */
export const SCRIPTS = {
  /** ARGV: P, id, deadline. */
  bxCreate: [
    1,
    script(`
local b = base(ARGV[2])
redis.call('DEL', KEYS[1], b .. ':q', b .. ':subs', b .. ':u', b .. ':ub')
redis.call('HSET', KEYS[1], 'c', '0', 'h', '')
redis.call('ZADD', P .. ':exp', ARGV[3], ARGV[2])
return 1
`),
  ],
  /** ARGV: P, id, reason, me. 1 when removed, nil when unknown. Tells another holder. */
  bxDestroy: [
    1,
    script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local h = removeSession(base(ARGV[2]), ARGV[2])
if h and h ~= ARGV[4] then redis.call('PUBLISH', P .. ':w:' .. h, '!' .. ARGV[3] .. ':' .. ARGV[2]) end
return 1
`),
  ],
  /**
   * ARGV: P, id, me, hold ('1'/'0'), lease deadline. nil when unknown, else
   * {first, held, batch (0: none), payloads...}.
   */
  bxBegin: [
    1,
    script(`
local s = KEYS[1]
if redis.call('EXISTS', s) == 0 then return false end
local b = base(ARGV[2])
local first = redis.call('HGET', s, 'c') ~= '1'
redis.call('ZADD', P .. ':exp', ARGV[5], ARGV[2])
local res = {first and 1 or 0, 0, 0}
if take(b, res, 3) or first then
  redis.call('HSET', s, 'c', '1', 'h', '')
  return res
end
if ARGV[4] == '1' then
  redis.call('HSET', s, 'h', ARGV[3])
  res[2] = 1
else
  redis.call('HSET', s, 'h', '')
end
return res
`),
  ],
  /**
   * ARGV: P, id, me, deadline, take ('1'/'0'). nil when unknown, else {batch (0: none), payloads...}.
   * The hold mark and the expiry are left alone when another process holds the session now.
   */
  bxEnd: [
    1,
    script(`
local s = KEYS[1]
if redis.call('EXISTS', s) == 0 then return false end
local h = redis.call('HGET', s, 'h')
if not h or h == '' or h == ARGV[3] then
  redis.call('HSET', s, 'h', '')
  redis.call('ZADD', P .. ':exp', ARGV[4], ARGV[2])
end
local res = {0}
if ARGV[5] == '1' then take(base(ARGV[2]), res, 1) end
return res
`),
  ],
  /**
   * ARGV: P, id, piggyback ('1'/'0'). nil when unknown or nothing queued (or piggyback
   * with acknowledged delivery), else {batch (0: none), payloads...}.
   */
  bxTake: [
    1,
    script(`
if ARGV[3] == '1' and redis.call('HGET', KEYS[1], 'a') == '1' then return false end
local res = {0}
if take(base(ARGV[2]), res, 1) then return res end
return false
`),
  ],
  /** ARGV: P, id → 1, or 0 when unknown. Turns on acknowledged delivery. */
  bxAckOn: [
    1,
    script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'a', '1')
return 1
`),
  ],
  /** ARGV: P, id, batch → how many messages stay unacknowledged. */
  bxAck: [
    1,
    script(`
local b = base(ARGV[2])
local batch = tonumber(ARGV[3])
for _ = 1, redis.call('LLEN', b .. ':ub') do
  local first = redis.call('LINDEX', b .. ':ub', 0)
  if not first or tonumber(first) > batch then break end
  redis.call('LPOP', b .. ':ub')
  unref(redis.call('LPOP', b .. ':u'))
end
return redis.call('LLEN', b .. ':u')
`),
  ],
  /** ARGV: P, id, ttl, maxQueue, payloads... → -1 unknown, else number dropped. Wakes the holder. */
  bxRequeue: [
    1,
    script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'a') == '1' then return 0 end
local b = base(ARGV[2])
local q = b .. ':q'
for i = #ARGV, 5, -1 do redis.call('LPUSH', q, store(ARGV[i], 1, ARGV[3])) end
local over = trim(b, redis.call('LLEN', q), tonumber(ARGV[4]))
local h = holder(b)
if h then redis.call('PUBLISH', P .. ':w:' .. h, ARGV[2]) end
return over
`),
  ],
  /** ARGV: P, id, ttl, maxQueue, payload → -1 unknown, else number dropped. Wakes the holder. */
  bxDeliver: [
    1,
    script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local b = base(ARGV[2])
local len = redis.call('RPUSH', b .. ':q', store(ARGV[5], 1, ARGV[3]))
local over = trim(b, len, tonumber(ARGV[4]))
local h = holder(b)
if h then redis.call('PUBLISH', P .. ':w:' .. h, ARGV[2]) end
return over
`),
  ],
  /**
   * KEYS: the channel sets of the channel's expansion (dynamic count). ARGV: P, exclude,
   * ttl, maxQueue, payload. Stores the payload once, queues its id for every subscriber,
   * wakes each holding process once with all its sessions. → {count, id, dropped, ...}
   * (the ids of sessions whose queue overflowed).
   */
  bxPublish: [
    -1,
    script(`
local seen = {}
local targets = {}
local exclude = ARGV[2]
for i = 1, #KEYS do
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if not seen[id] and id ~= exclude then
      seen[id] = true
      targets[#targets + 1] = id
    end
  end
end
local res = {#targets}
if #targets == 0 then return res end
local mid = store(ARGV[5], #targets, ARGV[3])
local max = tonumber(ARGV[4])
local wakes = {}
for _, id in ipairs(targets) do
  local b = base(id)
  local over = trim(b, redis.call('RPUSH', b .. ':q', mid), max)
  if over > 0 then
    res[#res + 1] = id
    res[#res + 1] = over
  end
  local h = holder(b)
  if h then
    local w = wakes[h]
    if w then w[#w + 1] = id else wakes[h] = {id} end
  end
end
for h, ids in pairs(wakes) do redis.call('PUBLISH', P .. ':w:' .. h, table.concat(ids, ',')) end
return res
`),
  ],
  /** ARGV: P, id, max, channels... → -1 unknown, 0 over the limit, 1 ok. */
  bxSubscribe: [
    1,
    script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local subs = base(ARGV[2]) .. ':subs'
local added = 0
for i = 4, #ARGV do
  if redis.call('SISMEMBER', subs, ARGV[i]) == 0 then added = added + 1 end
end
if redis.call('SCARD', subs) + added > tonumber(ARGV[3]) then return 0 end
for i = 4, #ARGV do
  if redis.call('SADD', subs, ARGV[i]) == 1 then redis.call('SADD', P .. ':ch:' .. ARGV[i], ARGV[2]) end
end
return 1
`),
  ],
  /** ARGV: P, id, channels... → 0 unknown, 1 ok. */
  bxUnsubscribe: [
    1,
    script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local subs = base(ARGV[2]) .. ':subs'
for i = 3, #ARGV do
  if redis.call('SREM', subs, ARGV[i]) == 1 then redis.call('SREM', P .. ':ch:' .. ARGV[i], ARGV[2]) end
end
return 1
`),
  ],
  /** ARGV: P, id → nil when unknown, else the subscriptions. */
  bxSubscriptions: [
    1,
    script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('SMEMBERS', base(ARGV[2]) .. ':subs')
`),
  ],
  /**
   * ARGV: P, now, limit, me, lockMs. Takes the sweep lock (or returns nil when another
   * process has it), removes up to `limit` expired sessions, tells each one's holding
   * process, and returns the ids of the others (no holder, or a holder no longer listening:
   * the sweeping process reports them).
   */
  bxSweep: [
    0,
    script(`
if not redis.call('SET', P .. ':sweep', ARGV[4], 'NX', 'PX', ARGV[5]) then return false end
local ids = redis.call('ZRANGEBYSCORE', P .. ':exp', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local mine = {}
for _, id in ipairs(ids) do
  local h = removeSession(base(id), id)
  -- The holder reports it; if no process listens there any more (it died), we do.
  if not (h and redis.call('PUBLISH', P .. ':w:' .. h, '!timeout:' .. id) > 0) then mine[#mine + 1] = id end
end
return mine
`),
  ],
} as const satisfies Record<string, readonly [number, string]>;

export type ScriptName = keyof typeof SCRIPTS;
