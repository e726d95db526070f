/**
 * The Lua scripts of the Redis engine. Every script touches the keys of one hash slot
 * only, so the same scripts run on a single Redis, behind Sentinel and on Redis Cluster.
 *
 * Sessions are spread over a fixed number of buckets (the engine's `buckets` option; 1 on
 * a single Redis, 16 on a Cluster by default). A session's bucket is a hash of its client
 * id, and every key of a bucket carries the bucket's hash tag, `{P:b<k>}`, so one script
 * can queue a message for all the bucket's subscribers.
 *
 * Key layout (P = the engine's prefix, T = `{P:b<k>}` the bucket tag, `id` = a client id,
 * `mid` = a message id, I = `{P:i}` the channel index tag):
 *
 *   T:s:<id>      hash   c = '1' once connected, h = id of the process holding its connect ('' if none);
 *                        with acknowledged delivery a = '1' and b = the batch counter
 *   T:q:<id>      list   message ids queued for the session, oldest first
 *   T:subs:<id>   set    the session's subscriptions (exact and wildcard patterns)
 *   T:u:<id>      list   with acknowledged delivery: ids sent but not acknowledged,
 *   T:ub:<id>     list   and the batch number of each
 *   T:exp         zset   the bucket's sessions, scored by the epoch ms after which the sweep removes them
 *   T:ch:<chan>   set    the bucket's sessions subscribed to a channel or pattern
 *   T:m:<mid>     hash   p = payload, n = queues of the bucket still holding it; TTL as a safety net
 *   T:mid         string message id counter
 *   {P:b0}:sweep  string sweep lock (SET NX PX), held by one process per sweep interval
 *
 * That is queues mode (`fanout: 'queues'`, 0.1.0's). In logs mode (the default), the scripts
 * of log-scripts.ts replace those that queue, take and remove mail; its key layout is there.
 *
 * With more than one bucket, a channel index says which buckets have subscribers, so a
 * publish runs only where it has something to do:
 *
 *   I:c:<chan>    hash   bucket number → time (Redis clock, ms) a session of it last subscribed
 *   I:stale       zset   "<bucket>|<chan>" entries that may have no subscriber left, by time reported
 *
 * The index is a superset: a subscribe writes it before the bucket, and an entry goes only
 * once the bucket was checked empty and nobody subscribed within the grace period (the
 * sweeper does it, see bxPrune). A stale entry costs a publish one script that finds nobody.
 *
 * Pub/sub (PUBLISH, which Redis Cluster forwards to every node):
 *   P:w:<process id>  a comma-separated list of client ids to wake, `!<reason>:<client id>` (a
 *                     session this process holds was removed elsewhere), or `#<token>` (a
 *                     barrier, see RedisEngine.barrier)
 *   P:ev              cluster events (only with the engine's `clusterEvents`), JSON arrays:
 *                     ["a",id] added, ["r",id,reason] removed, ["s",id,chan] subscribed, ["u",id,chan] unsubscribed
 * On a Cluster with sharded pub/sub (option `shardedPubSub`, flag `s`), the same notices go
 * by SPUBLISH on T:w:<process id> and T:ev, each bucket's own, so a notice stays on the
 * node that owns the bucket instead of crossing the whole Cluster bus.
 */

/**
 * What every bucket script starts with (queues and logs mode alike). ARGV[1] is the bucket
 * tag T, ARGV[2] the prefix P, ARGV[3] the flags: `e` cluster events on, `i` a channel index
 * in use, `s` sharded pub/sub.
 */
export const BUCKET_HEAD = `
local T = ARGV[1]
local P = ARGV[2]
local EV = string.find(ARGV[3], 'e', 1, true) ~= nil
local IX = string.find(ARGV[3], 'i', 1, true) ~= nil
local function sk(kind, id) return T .. ':' .. kind .. ':' .. id end
-- Sharded pub/sub (flag s, a Cluster): each bucket's own channels, published in its slot.
local SH = string.find(ARGV[3], 's', 1, true) ~= nil
local PUB = SH and 'SPUBLISH' or 'PUBLISH'
local CH = SH and T or P
local function event(e) if EV then redis.call(PUB, CH .. ':ev', cjson.encode(e)) end end
local function notify(h, msg) return redis.call(PUB, CH .. ':w:' .. h, msg) end
`;

/**
 * The hold helpers of the merged connect-cycle scripts (bxMany, lxMany), after `me` (this
 * process's id) and with KEYS[1] the bucket's expiry set. `mine` is asked once per
 * operation; `unhold` ends a hold the caller found `mine`.
 */
export const HOLD_HELPERS = `-- Whether no other process holds the session (a newer connect there would own its mail).
local function mine(s)
  local h = redis.call('HGET', s, 'h')
  return not h or h == '' or h == me
end
local function unhold(s, id, deadline)
  redis.call('HSET', s, 'h', '')
  redis.call('ZADD', KEYS[1], deadline, id)
end
`;

const LIB = `${BUCKET_HEAD}local function unref(mid)
  local mk = T .. ':m:' .. mid
  if redis.call('HINCRBY', mk, 'n', -1) <= 0 then redis.call('DEL', mk) end
end
local function store(payload, n, ttl)
  local mid = redis.call('INCR', T .. ':mid')
  local mk = T .. ':m:' .. mid
  redis.call('HSET', mk, 'p', payload, 'n', n)
  redis.call('PEXPIRE', mk, ttl)
  return mid
end
-- Appends the session's mail to out; false when there was none. Without acknowledged
-- delivery that is the queue, emptied. With it, the queue becomes a new batch of the
-- unacknowledged list (batch numbers in :ub), and all of that list is returned (kept
-- until acknowledged); out[batchAt] gets the latest batch number (0 before any), even
-- when there was none, since every connect reply of such a session is numbered.
local function take(id, out, batchAt)
  local q = sk('q', id)
  local s = sk('s', id)
  local ids = redis.call('LRANGE', q, 0, -1)
  if redis.call('HGET', s, 'a') == '1' then
    local u = sk('u', id)
    if #ids > 0 then
      redis.call('DEL', q)
      local batch = redis.call('HINCRBY', s, 'b', 1)
      for _, mid in ipairs(ids) do
        redis.call('RPUSH', u, mid)
        redis.call('RPUSH', sk('ub', id), batch)
      end
    end
    if batchAt then out[batchAt] = tonumber(redis.call('HGET', s, 'b')) or 0 end
    local sent = redis.call('LRANGE', u, 0, -1)
    if #sent == 0 then return false end
    for _, mid in ipairs(sent) do
      local p = redis.call('HGET', T .. ':m:' .. mid, 'p')
      if p then out[#out + 1] = p end
    end
    return true
  end
  if #ids == 0 then return false end
  redis.call('DEL', q)
  for _, mid in ipairs(ids) do
    local p = redis.call('HGET', T .. ':m:' .. mid, 'p')
    if p then out[#out + 1] = p end
    unref(mid)
  end
  return true
end
-- Drops the oldest entries beyond max; returns how many.
local function trim(id, len, max)
  local over = len - max
  if over <= 0 then return 0 end
  local q = sk('q', id)
  local dropped = redis.call('LRANGE', q, 0, over - 1)
  redis.call('LTRIM', q, over, -1)
  for _, d in ipairs(dropped) do unref(d) end
  return over
end
local function holder(id)
  local h = redis.call('HGET', sk('s', id), 'h')
  if h and h ~= '' then return h end
  return false
end
-- Removes a channel's subscription of a session; with an index, notes a channel the
-- bucket no longer has any subscriber for in emptied.
local function unsub(id, c, emptied)
  local ck = T .. ':ch:' .. c
  redis.call('SREM', ck, id)
  if IX and redis.call('EXISTS', ck) == 0 then emptied[#emptied + 1] = c end
end
local function removeSession(id, reason, emptied)
  for _, c in ipairs(redis.call('SMEMBERS', sk('subs', id))) do unsub(id, c, emptied) end
  for _, mid in ipairs(redis.call('LRANGE', sk('q', id), 0, -1)) do unref(mid) end
  for _, mid in ipairs(redis.call('LRANGE', sk('u', id), 0, -1)) do unref(mid) end
  local h = holder(id)
  redis.call('DEL', sk('s', id), sk('q', id), sk('subs', id), sk('u', id), sk('ub', id))
  redis.call('ZREM', T .. ':exp', id)
  event({'r', id, reason})
  return h
end
`;

/** Helpers of the channel-index scripts. ARGV[1] is the index tag I. */
const INDEX_LIB = `
local I = ARGV[1]
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

function bucket(body: string): string {
  return LIB + body;
}

function index(body: string): string {
  return INDEX_LIB + body;
}

/**
 * Script name → [number of KEYS, Lua]. Bucket scripts: ARGV starts with T, P, flags; KEYS[1]
 * is the session hash `T:s:<id>` (or `T:exp` for whole-bucket scripts) and routes the call
 * to the bucket's node. Index scripts: ARGV starts with I; KEYS are index keys.
 */
export const SCRIPTS = {
  /** ARGV: T, P, F, id, deadline. */
  bxCreate: [
    1,
    bucket(`
local id = ARGV[4]
redis.call('DEL', KEYS[1], sk('q', id), sk('subs', id), sk('u', id), sk('ub', id))
redis.call('HSET', KEYS[1], 'c', '0', 'h', '')
redis.call('ZADD', T .. ':exp', ARGV[5], id)
event({'a', id})
return 1
`),
  ],
  /**
   * ARGV: T, P, F, id, reason, me. nil when unknown, else the channels the bucket no longer
   * has subscribers for (with an index). Tells another holder.
   */
  bxDestroy: [
    1,
    bucket(`
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local emptied = {}
local h = removeSession(id, ARGV[5], emptied)
if h and h ~= ARGV[6] then notify(h, '!' .. ARGV[5] .. ':' .. id) end
return emptied
`),
  ],
  /**
   * The connect cycle's calls, merged (lib/redis/op-batch.ts). KEYS[1]: T:exp. ARGV: T, P,
   * F, me (this process's id), then per operation four values, run in order:
   *   'b', id, hold ('1'/'0'), lease        begin a connect: nil when unknown, else {first,
   *                                         held, batch (-1: none), payloads...}. Cancels the
   *                                         expiry (until the lease deadline); takes the mail,
   *                                         or with hold and nothing to take (and not the first
   *                                         connect) marks the session held by me
   *   't', id, piggyback ('1'/'0'), ''      take the queued mail: nil when unknown or nothing
   *                                         queued (or piggyback with acknowledged delivery)
   *   'e', id, deadline, take ('1'/'0')     end a held connect: nil when unknown. The hold mark,
   *                                         the expiry and the mail (with take) are left alone
   *                                         when another process holds the session now
   *   'x', id, deadline, ''                 take the mail for a held connect and, if there was
   *                                         any, end the hold as 'e' does: nil when none, or
   *                                         when another process holds the session now (a newer
   *                                         connect replaced this one: the mail is its)
   * → one reply per operation; a reply with mail is {batch (-1: no acknowledged delivery),
   * payloads...}; with acknowledged delivery the batch is set even without payloads.
   */
  bxMany: [
    1,
    bucket(`
local me = ARGV[4]
${HOLD_HELPERS}local res = {}
local n = 0
for i = 5, #ARGV, 4 do
  n = n + 1
  local op, id, a = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local s = sk('s', id)
  local r = false
  if op == 'b' then
    if redis.call('EXISTS', s) == 1 then
      local first = redis.call('HGET', s, 'c') ~= '1'
      redis.call('ZADD', KEYS[1], ARGV[i + 3], id)
      r = {first and 1 or 0, 0, -1}
      if take(id, r, 3) or first then
        redis.call('HSET', s, 'c', '1', 'h', '')
      elseif a == '1' then
        redis.call('HSET', s, 'h', me)
        r[2] = 1
      else
        redis.call('HSET', s, 'h', '')
      end
    end
  elseif op == 't' then
    if a ~= '1' or redis.call('HGET', s, 'a') ~= '1' then
      local out = {-1}
      if take(id, out, 1) then r = out end
    end
  elseif op == 'x' then
    local out = {-1}
    if mine(s) and take(id, out, 1) then
      unhold(s, id, a)
      r = out
    end
  elseif redis.call('EXISTS', s) == 1 then
    local own = mine(s)
    if own then unhold(s, id, a) end
    r = {-1}
    if own and ARGV[i + 3] == '1' then take(id, r, 1) end
  end
  res[n] = r
end
return res
`),
  ],
  /** ARGV: T, P, F, id → 1, or 0 when unknown. Turns on acknowledged delivery. */
  bxAckOn: [
    1,
    bucket(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'a', '1')
return 1
`),
  ],
  /** ARGV: T, P, F, id, batch → how many messages stay unacknowledged. */
  bxAck: [
    1,
    bucket(`
local id = ARGV[4]
local ub = sk('ub', id)
local u = sk('u', id)
local batch = tonumber(ARGV[5])
for _ = 1, redis.call('LLEN', ub) do
  local first = redis.call('LINDEX', ub, 0)
  if not first or tonumber(first) > batch then break end
  redis.call('LPOP', ub)
  unref(redis.call('LPOP', u))
end
return redis.call('LLEN', u)
`),
  ],
  /** ARGV: T, P, F, id, ttl, maxQueue, payloads... → -1 unknown, else number dropped. Wakes the holder. */
  bxRequeue: [
    1,
    bucket(`
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'a') == '1' then return 0 end
local q = sk('q', id)
for i = #ARGV, 7, -1 do redis.call('LPUSH', q, store(ARGV[i], 1, ARGV[5])) end
local over = trim(id, redis.call('LLEN', q), tonumber(ARGV[6]))
local h = holder(id)
if h then notify(h, id) end
return over
`),
  ],
  /** ARGV: T, P, F, id, ttl, maxQueue, payload → -1 unknown, else number dropped. Wakes the holder. */
  bxDeliver: [
    1,
    bucket(`
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local len = redis.call('RPUSH', sk('q', id), store(ARGV[7], 1, ARGV[5]))
local over = trim(id, len, tonumber(ARGV[6]))
local h = holder(id)
if h then notify(h, id) end
return over
`),
  ],
  /**
   * KEYS[1]: T:exp. ARGV: T, P, F, exclude, ttl, maxQueue, payload, channels... (the
   * channel's expansion, or the part of it the index routed to this bucket). Stores the
   * payload once for the bucket, queues its id for every subscriber of the bucket, wakes
   * each holding process once with all its sessions. → {count, empties, id, dropped, ...}:
   * empties are the given channels the bucket has no subscriber for (with an index; else
   * empty), then the sessions whose queue overflowed.
   */
  bxPublish: [
    1,
    bucket(`
local seen = {}
local targets = {}
local empties = {}
local exclude = ARGV[4]
for i = 8, #ARGV do
  local members = redis.call('SMEMBERS', T .. ':ch:' .. ARGV[i])
  if IX and #members == 0 then empties[#empties + 1] = ARGV[i] end
  for _, id in ipairs(members) do
    if not seen[id] and id ~= exclude then
      seen[id] = true
      targets[#targets + 1] = id
    end
  end
end
local res = {#targets, empties}
if #targets == 0 then return res end
local mid = store(ARGV[7], #targets, ARGV[5])
local max = tonumber(ARGV[6])
local wakes = {}
for _, id in ipairs(targets) do
  local over = trim(id, redis.call('RPUSH', sk('q', id), mid), max)
  if over > 0 then
    res[#res + 1] = id
    res[#res + 1] = over
  end
  local h = holder(id)
  if h then
    local w = wakes[h]
    if w then w[#w + 1] = id else wakes[h] = {id} end
  end
end
for h, ids in pairs(wakes) do notify(h, table.concat(ids, ',')) end
return res
`),
  ],
  /** ARGV: T, P, F, id, max, channels... → -1 unknown, 0 over the limit, 1 ok. */
  bxSubscribe: [
    1,
    bucket(`
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local subs = sk('subs', id)
local added = 0
for i = 6, #ARGV do
  if redis.call('SISMEMBER', subs, ARGV[i]) == 0 then added = added + 1 end
end
if redis.call('SCARD', subs) + added > tonumber(ARGV[5]) then return 0 end
for i = 6, #ARGV do
  if redis.call('SADD', subs, ARGV[i]) == 1 then
    redis.call('SADD', T .. ':ch:' .. ARGV[i], id)
    event({'s', id, ARGV[i]})
  end
end
return 1
`),
  ],
  /** ARGV: T, P, F, id, channels... → nil unknown, else the channels the bucket no longer has subscribers for. */
  bxUnsubscribe: [
    1,
    bucket(`
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local subs = sk('subs', id)
local emptied = {}
for i = 5, #ARGV do
  if redis.call('SREM', subs, ARGV[i]) == 1 then
    unsub(id, ARGV[i], emptied)
    event({'u', id, ARGV[i]})
  end
end
return emptied
`),
  ],
  /** ARGV: T, P, F, id → nil when unknown, else the subscriptions. */
  bxSubscriptions: [
    1,
    bucket(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('SMEMBERS', sk('subs', ARGV[4]))
`),
  ],
  /**
   * KEYS[1]: T:exp. ARGV: T, P, F, now, limit, me, lockMs, lock ('1': take the sweep lock
   * first, nil when another process has it). Removes up to `limit` expired sessions of the
   * bucket, tells each one's holding process. → {ids, emptied}: the ids the sweeping process
   * reports (no holder, or a holder no longer listening), and (with an index) the channels
   * the bucket no longer has subscribers for.
   */
  bxSweep: [
    1,
    bucket(`
if ARGV[8] == '1' and not redis.call('SET', T .. ':sweep', ARGV[6], 'NX', 'PX', ARGV[7]) then return false end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
local mine = {}
local emptied = {}
for _, id in ipairs(ids) do
  local h = removeSession(id, 'timeout', emptied)
  -- The holder reports it; if no process listens there any more (it died), we do.
  if not (h and notify(h, '!timeout:' .. id) > 0) then mine[#mine + 1] = id end
end
return {mine, emptied}
`),
  ],
  /** KEYS[1]: T:exp. ARGV: T, P, F, channels... → the channels the bucket has no subscriber for. */
  bxVerify: [
    1,
    bucket(`
local empty = {}
for i = 4, #ARGV do
  if redis.call('EXISTS', T .. ':ch:' .. ARGV[i]) == 0 then empty[#empty + 1] = ARGV[i] end
end
return empty
`),
  ],
  /** KEYS[1]: I:stale. ARGV: I, bucket, channels... Marks the bucket as having subscribers (now). */
  bxIndex: [
    1,
    index(`
local t = now()
for i = 3, #ARGV do redis.call('HSET', I .. ':c:' .. ARGV[i], ARGV[2], t) end
return 1
`),
  ],
  /** KEYS: I:c:<chan> of a channel's expansion. ARGV: I. → per key, the buckets listed. */
  bxRoute: [
    -1,
    index(`
local res = {}
for i = 1, #KEYS do res[i] = redis.call('HKEYS', KEYS[i]) end
return res
`),
  ],
  /** KEYS[1]: I:stale. ARGV: I, entries ("<bucket>|<chan>")... Notes entries to check (kept at their first report time). */
  bxStale: [
    1,
    index(`
local t = now()
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'NX', t, ARGV[i]) end
return 1
`),
  ],
  /** KEYS[1]: I:stale. ARGV: I, graceMs, limit. → entries reported more than the grace period ago. */
  bxStaleDue: [
    1,
    index(`
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now() - tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[3]))
`),
  ],
  /**
   * KEYS[1]: I:stale. ARGV: I, graceMs, then pairs (entry, '1' when its bucket was just
   * checked and has no subscriber, else '0'). An empty bucket leaves the index unless a
   * session of it subscribed within the grace period (its subscribe may not have reached
   * the bucket when we checked): that entry is checked again later. → entries removed.
   */
  bxPrune: [
    1,
    index(`
local t = now()
local grace = tonumber(ARGV[2])
local removed = 0
for i = 3, #ARGV - 1, 2 do
  local entry = ARGV[i]
  redis.call('ZREM', KEYS[1], entry)
  if ARGV[i + 1] == '1' then
    local bar = string.find(entry, '|', 1, true)
    local b = string.sub(entry, 1, bar - 1)
    local key = I .. ':c:' .. string.sub(entry, bar + 1)
    local at = redis.call('HGET', key, b)
    if at then
      if tonumber(at) < t - grace then
        redis.call('HDEL', key, b)
        removed = removed + 1
      else
        redis.call('ZADD', KEYS[1], t, entry)
      end
    end
  end
end
return removed
`),
  ],
} as const satisfies Record<string, readonly [number, string]>;

export type ScriptName = keyof typeof SCRIPTS;
