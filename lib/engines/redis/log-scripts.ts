/**
 * The Lua scripts of the Redis engine's `fanout: 'logs'` mode (issue 14, step 1). They
 * replace the bucket scripts of lib/engines/redis/scripts.ts that queue, take or remove
 * mail ({@link LOG_VARIANTS}); the others (acknowledgement on, subscriptions, verify, the
 * channel index) are shared. Same calling convention: ARGV[1..3] = T, P, flags; KEYS[1] routes
 * the call to the bucket's node; every key is under the bucket tag, so each script stays in
 * one hash slot (Redis Cluster).
 *
 * Instead of appending a message id to every subscriber's queue, a publish appends the
 * payload once to the LOG of each subscription key (the channel and the wildcard patterns
 * that match it) that has subscribers in the bucket, all under one sequence number. Each
 * session keeps, per subscription, its read POSITION in that log; a take reads the
 * session's logs after its positions and its own queue (mail for it alone), merges them by
 * sequence (a publish matching two of its subscriptions is taken once) and moves the
 * positions over what it took. A publish costs O(keys) writes, not O(subscribers).
 *
 * Key layout of this mode (P = prefix, T = `{P:b<k>}` the bucket tag, `id` = a client id,
 * `key` = a channel or pattern subscribed to):
 *
 *   T:seq          string  the bucket's sequence (INCR): orders every log append and every
 *                          direct mail of the bucket
 *   T:subs         hash    key → number of the bucket's sessions subscribed (a publish appends
 *                          only where > 0; the log goes when it drops to 0)
 *   T:n            hash    key → entries ever appended to its log (each entry's ordinal)
 *   T:l:<key>      stream  the key's log: entry id `<seq>-0`, fields n (ordinal), p (payload)
 *                          and x (the session the publish excluded, if any). Trimmed to
 *                          maxQueue entries by the append (MAXLEN, exact), and by the sweep to
 *                          the slowest position of its subscribers (MINID)
 *   T:s:<id>       hash    as in queues mode (c connected, h holder, a/b acknowledgement) plus,
 *                          per subscription, `c:<key>` = "<seq> <n>": the sequence and ordinal of
 *                          the last entry of that log the session got (at subscribe: the end)
 *   T:q:<id>       list    mail for this session alone (deliver, service replies, requeue):
 *                          "<seq> <payload>", in sequence order; requeued mail is "0 <payload>",
 *                          in front (it was taken before anything still unread)
 *   T:u:<id>       list    with acknowledged delivery: payloads sent but not acknowledged
 *   T:ub:<id>      list    and the batch number of each
 *   T:subs:<id>, T:ch:<key>, T:exp, {P:b0}:sweep, I:…, P:w:…, P:ev   as in queues mode
 *   T:tmp          set     scratch for SUNIONSTORE (counting a publish's sessions), deleted at once
 *
 * An entry's ordinal counts its log's entries (sequences interleave other keys' and direct
 * mail), so a session whose position is at ordinal k and whose next entry has ordinal m
 * lost m − k − 1 entries to the trim: reported as the take's queue overflow.
 *
 * Wakes are still found per subscriber (the publish looks up each subscriber's holder, as
 * queues mode does): reads only, but O(subscribers) per publish. Per-log notices replace
 * that in the next step.
 */

/** Helpers of every log script (ARGV[1] T, ARGV[2] P, ARGV[3] flags: `e` events, `i` index). */
const LIB = `
local T = ARGV[1]
local P = ARGV[2]
local EV = string.find(ARGV[3], 'e', 1, true) ~= nil
local IX = string.find(ARGV[3], 'i', 1, true) ~= nil
local function sk(kind, id) return T .. ':' .. kind .. ':' .. id end
local function event(e) if EV then redis.call('PUBLISH', P .. ':ev', cjson.encode(e)) end end
local function notify(h, msg) return redis.call('PUBLISH', P .. ':w:' .. h, msg) end
local function holder(id)
  local h = redis.call('HGET', sk('s', id), 'h')
  if h and h ~= '' then return h end
  return false
end
-- Drops the oldest direct mail beyond max; returns how many.
local function trimQueue(id, len, max)
  local over = len - max
  if over <= 0 then return 0 end
  redis.call('LTRIM', sk('q', id), over, -1)
  return over
end
-- Ends session id's subscription to key c (its position field is the caller's): out of the
-- key's session set (with an index, an emptied set is noted in emptied), one subscriber
-- fewer for the key's log, which goes with its last subscriber.
local function dropSub(id, c, emptied)
  local ck = T .. ':ch:' .. c
  redis.call('SREM', ck, id)
  if IX and redis.call('EXISTS', ck) == 0 then emptied[#emptied + 1] = c end
  if redis.call('HINCRBY', T .. ':subs', c, -1) <= 0 then
    redis.call('HDEL', T .. ':subs', c)
    redis.call('HDEL', T .. ':n', c)
    redis.call('DEL', T .. ':l:' .. c)
  end
end
local function removeSession(id, reason, emptied)
  for _, c in ipairs(redis.call('SMEMBERS', sk('subs', id))) do dropSub(id, c, emptied) end
  local h = holder(id)
  redis.call('DEL', sk('s', id), sk('q', id), sk('subs', id), sk('u', id), sk('ub', id))
  redis.call('ZREM', T .. ':exp', id)
  event({'r', id, reason})
  return h
end
-- The sequence number of a stream entry id '<seq>-0' (as text).
local function seqText(entryId) return string.sub(entryId, 1, -3) end
`;

/**
 * A session's take (lxMany only; needs MAX, the engine's maxQueue, and a `drops` table):
 * `collect` gathers the new mail, `take` hands it out as queues mode's take does (with
 * acknowledged delivery through T:u).
 */
const TAKE = `
-- The session's new mail, oldest first, at most MAX: its direct mail and what its logs have
-- after its positions, merged by sequence (a publish in two of its logs once; a publish that
-- excluded it skipped). Empties the queue and moves the positions over what it took, no
-- further. Adds what the logs' trim dropped before the session read it to drops[id].
local function collect(id, s)
  local items = {}
  local q = sk('q', id)
  -- At most MAX: deliver and requeue trim the queue.
  local queued = redis.call('LRANGE', q, 0, -1)
  for i, e in ipairs(queued) do
    local sp = string.find(e, ' ', 1, true)
    items[#items + 1] = {tonumber(string.sub(e, 1, sp - 1)), 0, i, string.sub(e, sp + 1)}
  end
  local logs, dropped, cut = {}, 0, nil
  local state = redis.call('HGETALL', s)
  for i = 1, #state, 2 do
    local field = state[i]
    if string.sub(field, 1, 2) == 'c:' then
      local at, n = string.match(state[i + 1], '^(%d+) (%d+)$')
      local es = redis.call('XRANGE', T .. ':l:' .. string.sub(field, 3), '(' .. at .. '-0', '+', 'COUNT', MAX)
      if #es > 0 then
        local L = {field = field, es = es, upto = 0}
        logs[#logs + 1] = L
        -- e[2] is {'n', ordinal, 'p', payload[, 'x', excluded session]}.
        local first = tonumber(es[1][2][2])
        if first > tonumber(n) + 1 then
          dropped = dropped + first - tonumber(n) - 1
          -- Past the gap even if nothing of this log is taken now, so it is reported once.
          L.gap = string.format('%d %d', tonumber(seqText(es[1][1])) - 1, first - 1)
        end
        if #es == MAX then
          -- This log may have more: nothing later than its last entry read can go yet.
          local last = tonumber(seqText(es[#es][1]))
          if cut == nil or last < cut then cut = last end
        end
        for j, e in ipairs(es) do items[#items + 1] = {tonumber(seqText(e[1])), #logs, j, e[2][4], e[2][6]} end
      end
    end
  end
  if dropped > 0 then drops[id] = (drops[id] or 0) + dropped end
  local out = {}
  if #items == 0 then return out end
  -- By sequence; the queue first on a tie (requeued mail, all 0), then log by log, in order.
  table.sort(items, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[3] < b[3]
  end)
  local taken, prev = 0, nil
  for _, it in ipairs(items) do
    if cut and it[1] > cut then break end
    -- The same publish through another of the session's logs: moves that log on, never stops.
    local again = it[2] > 0 and it[1] == prev
    if #out >= MAX and not again then break end
    if it[2] == 0 then
      taken = taken + 1
      out[#out + 1] = it[4]
    else
      logs[it[2]].upto = it[3]
      if not again and it[5] ~= id then out[#out + 1] = it[4] end
      prev = it[1]
    end
  end
  if taken == #queued then
    if taken > 0 then redis.call('DEL', q) end
  elseif taken > 0 then
    redis.call('LTRIM', q, taken, -1)
  end
  for _, L in ipairs(logs) do
    if L.upto > 0 then
      local e = L.es[L.upto]
      redis.call('HSET', s, L.field, seqText(e[1]) .. ' ' .. e[2][2])
    elseif L.gap then
      redis.call('HSET', s, L.field, L.gap)
    end
  end
  return out
end
-- As queues mode's take: appends the session's mail to out; false when there was none.
-- With acknowledged delivery the new mail becomes a new batch of T:u (payloads; batch
-- numbers in T:ub) and all of T:u is returned; out[batchAt] gets the latest batch number.
local function take(id, out, batchAt)
  local s = sk('s', id)
  local new = collect(id, s)
  if redis.call('HGET', s, 'a') == '1' then
    local u = sk('u', id)
    if #new > 0 then
      local batch = redis.call('HINCRBY', s, 'b', 1)
      for _, p in ipairs(new) do
        redis.call('RPUSH', u, p)
        redis.call('RPUSH', sk('ub', id), batch)
      end
    end
    if batchAt then out[batchAt] = tonumber(redis.call('HGET', s, 'b')) or 0 end
    local sent = redis.call('LRANGE', u, 0, -1)
    if #sent == 0 then return false end
    for _, p in ipairs(sent) do out[#out + 1] = p end
    return true
  end
  if #new == 0 then return false end
  for _, p in ipairs(new) do out[#out + 1] = p end
  return true
end
`;

function bucket(body: string): string {
  return LIB + body;
}

/** Script name → [number of KEYS, Lua], as SCRIPTS in scripts.ts. */
export const LOG_SCRIPTS = {
  /** ARGV: T, P, F, id, deadline. The same id again: its old subscriptions are let go first (no events). */
  lxCreate: [
    1,
    bucket(`
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 1 then
  local emptied = {}
  for _, c in ipairs(redis.call('SMEMBERS', sk('subs', id))) do dropSub(id, c, emptied) end
end
redis.call('DEL', KEYS[1], sk('q', id), sk('subs', id), sk('u', id), sk('ub', id))
redis.call('HSET', KEYS[1], 'c', '0', 'h', '')
redis.call('ZADD', T .. ':exp', ARGV[5], id)
event({'a', id})
return 1
`),
  ],
  /** As bxDestroy. ARGV: T, P, F, id, reason, me → nil when unknown, else the channels emptied (with an index). */
  lxDestroy: [
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
   * The connect cycle's calls, merged, as bxMany (same operations and replies), with the
   * log take. KEYS[1]: T:exp. ARGV: T, P, F, me, maxQueue, then four values per operation.
   * → one reply per operation, then pairs (session, dropped): entries the logs' trim dropped
   * before that session read them.
   */
  lxMany: [
    1,
    bucket(`
local me = ARGV[4]
local MAX = tonumber(ARGV[5])
local drops = {}
${TAKE}
local function unhold(s, id, deadline)
  local h = redis.call('HGET', s, 'h')
  if not h or h == '' or h == me then
    redis.call('HSET', s, 'h', '')
    redis.call('ZADD', KEYS[1], deadline, id)
  end
end
local res = {}
local n = 0
for i = 6, #ARGV, 4 do
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
    if take(id, out, 1) then
      unhold(s, id, a)
      r = out
    end
  elseif redis.call('EXISTS', s) == 1 then
    unhold(s, id, a)
    r = {-1}
    if ARGV[i + 3] == '1' then take(id, r, 1) end
  end
  res[n] = r
end
for id, d in pairs(drops) do
  res[n + 1] = id
  res[n + 2] = d
  n = n + 2
end
return res
`),
  ],
  /** As bxAck (T:u holds payloads here). ARGV: T, P, F, id, batch → how many stay unacknowledged. */
  lxAck: [
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
  redis.call('LPOP', u)
end
return redis.call('LLEN', u)
`),
  ],
  /** ARGV: T, P, F, id, ttl (unused), maxQueue, payloads... → -1 unknown, else number dropped. In front, sequence 0. Wakes the holder. */
  lxRequeue: [
    1,
    bucket(`
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'a') == '1' then return 0 end
local q = sk('q', id)
for i = #ARGV, 7, -1 do redis.call('LPUSH', q, '0 ' .. ARGV[i]) end
local over = trimQueue(id, redis.call('LLEN', q), tonumber(ARGV[6]))
local h = holder(id)
if h then notify(h, id) end
return over
`),
  ],
  /** ARGV: T, P, F, id, ttl (unused), maxQueue, payload → -1 unknown, else number dropped. Wakes the holder. */
  lxDeliver: [
    1,
    bucket(`
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local seq = redis.call('INCR', T .. ':seq')
local len = redis.call('RPUSH', sk('q', id), string.format('%d ', seq) .. ARGV[7])
local over = trimQueue(id, len, tonumber(ARGV[6]))
local h = holder(id)
if h then notify(h, id) end
return over
`),
  ],
  /**
   * As bxPublish. KEYS[1]: T:exp. ARGV: T, P, F, exclude, ttl (unused), maxQueue, payload,
   * channels... Appends the payload once to the log of each given key with subscribers in
   * the bucket, under one new sequence number, and wakes each holding process once with its
   * sessions. → {count, empties}: the sessions it is for (exclude left out, a session
   * matching several keys once; from the keys' session sets), and (with an index) the given
   * channels the bucket has no subscriber for. Nothing is appended when that count is 0.
   */
  lxPublish: [
    1,
    bucket(`
local exclude = ARGV[4]
local keys = {}
local empties = {}
for i = 8, #ARGV do
  local c = ARGV[i]
  if tonumber(redis.call('HGET', T .. ':subs', c) or '0') > 0 then keys[#keys + 1] = c
  elseif IX then empties[#empties + 1] = c end
end
if #keys == 0 then return {0, empties} end
local sets = {}
for i, c in ipairs(keys) do sets[i] = T .. ':ch:' .. c end
local count
if #sets == 1 then
  count = redis.call('SCARD', sets[1])
else
  count = redis.call('SUNIONSTORE', T .. ':tmp', unpack(sets))
  redis.call('DEL', T .. ':tmp')
end
if exclude ~= '' then
  for _, k in ipairs(sets) do
    if redis.call('SISMEMBER', k, exclude) == 1 then
      count = count - 1
      break
    end
  end
end
if count <= 0 then return {0, empties} end
local id = string.format('%d-0', redis.call('INCR', T .. ':seq'))
local max = ARGV[6]
for _, c in ipairs(keys) do
  local n = redis.call('HINCRBY', T .. ':n', c, 1)
  if exclude == '' then
    redis.call('XADD', T .. ':l:' .. c, 'MAXLEN', max, id, 'n', n, 'p', ARGV[7])
  else
    redis.call('XADD', T .. ':l:' .. c, 'MAXLEN', max, id, 'n', n, 'p', ARGV[7], 'x', exclude)
  end
end
-- Wakes: every subscriber's holder, looked up (O(subscribers); per-log notices next).
local seen = {}
local wakes = {}
for _, k in ipairs(sets) do
  for _, sid in ipairs(redis.call('SMEMBERS', k)) do
    if not seen[sid] and sid ~= exclude then
      seen[sid] = true
      local h = holder(sid)
      if h then
        local w = wakes[h]
        if w then w[#w + 1] = sid else wakes[h] = {sid} end
      end
    end
  end
end
for h, ids in pairs(wakes) do notify(h, table.concat(ids, ',')) end
return {count, empties}
`),
  ],
  /** As bxSubscribe; each new subscription's position is the end of its log now. ARGV: T, P, F, id, max, channels... → -1 unknown, 0 over the limit, 1 ok. */
  lxSubscribe: [
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
local seq = redis.call('GET', T .. ':seq') or '0'
for i = 6, #ARGV do
  local c = ARGV[i]
  if redis.call('SADD', subs, c) == 1 then
    redis.call('SADD', T .. ':ch:' .. c, id)
    redis.call('HINCRBY', T .. ':subs', c, 1)
    redis.call('HSET', KEYS[1], 'c:' .. c, seq .. ' ' .. (redis.call('HGET', T .. ':n', c) or '0'))
    event({'s', id, c})
  end
end
return 1
`),
  ],
  /**
   * As bxUnsubscribe; the position goes with the subscription (what the log has after it is
   * not delivered). ARGV: T, P, F, id, channels... → nil unknown, else the channels emptied.
   */
  lxUnsubscribe: [
    1,
    bucket(`
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local subs = sk('subs', id)
local emptied = {}
for i = 5, #ARGV do
  local c = ARGV[i]
  if redis.call('SREM', subs, c) == 1 then
    dropSub(id, c, emptied)
    redis.call('HDEL', KEYS[1], 'c:' .. c)
    event({'u', id, c})
  end
end
return emptied
`),
  ],
  /**
   * As bxSweep (same ARGV and reply), then trims every log of the bucket to the slowest
   * position among its subscribers: entries every subscriber has read go. O(subscribers of
   * the logs that have entries), once per sweep.
   */
  lxSweep: [
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
for _, c in ipairs(redis.call('HKEYS', T .. ':subs')) do
  local l = T .. ':l:' .. c
  if redis.call('XLEN', l) > 0 then
    local field = 'c:' .. c
    local slowest = nil
    for _, id in ipairs(redis.call('SMEMBERS', T .. ':ch:' .. c)) do
      local p = redis.call('HGET', sk('s', id), field)
      if p then
        local at = tonumber(string.match(p, '^%d+'))
        if slowest == nil or at < slowest then slowest = at end
      end
    end
    if slowest then redis.call('XTRIM', l, 'MINID', string.format('%d-0', slowest + 1)) end
  end
end
return {mine, emptied}
`),
  ],
} as const satisfies Record<string, readonly [number, string]>;

export type LogScriptName = keyof typeof LOG_SCRIPTS;

/** The bucket scripts that logs mode replaces, and their replacements; the others serve both modes. */
export const LOG_VARIANTS = {
  bxCreate: 'lxCreate',
  bxDestroy: 'lxDestroy',
  bxMany: 'lxMany',
  bxAck: 'lxAck',
  bxRequeue: 'lxRequeue',
  bxDeliver: 'lxDeliver',
  bxPublish: 'lxPublish',
  bxSubscribe: 'lxSubscribe',
  bxUnsubscribe: 'lxUnsubscribe',
  bxSweep: 'lxSweep',
} as const satisfies Record<string, LogScriptName>;
