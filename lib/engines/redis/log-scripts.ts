/**
 * The Lua scripts of the Redis engine's `fanout: 'logs'` mode (issue 14, steps 1 and 2). They
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
 *   T:l:<key>      pub/sub (a channel named as the log) one notice per append, carrying its sequence
 *
 * An entry's ordinal counts its log's entries (sequences interleave other keys' and direct
 * mail), so a session whose position is at ordinal k and whose next entry has ordinal m
 * lost m − k − 1 entries to the trim: reported as the take's queue overflow.
 *
 * Wakes (step 2): a publish looks at no subscriber. It sends one notice per log it appended
 * to, on the log's channel; the processes holding sessions subscribed to that key listen
 * there (lib/engines/redis/log-reader.ts). A process learns a held session's keys and
 * positions from the merged 'b' reply that makes the hold, and from a subscribe while it is
 * held ('+' on the holder's own channel P:w:<process>). On a notice it reads the new entries
 * of the log once for all its held sessions (lxRead) and hands each the entries after its
 * own position; the core's take for the session then COMMITS them (lxMany's 'c': compare
 * and set of the positions, only while the session is held by that process, has no direct
 * mail and no acknowledged delivery; else the session's own take runs instead, in the same
 * call). Direct mail (deliver, requeue) still wakes the holder on P:w:<process>.
 */
import { BUCKET_HEAD, HOLD_HELPERS } from './scripts.js';

/** Helpers of every log script (ARGV[1] T, ARGV[2] P, ARGV[3] flags: `e` events, `i` index, `s` sharded pub/sub). */
const LIB = `${BUCKET_HEAD}local function holder(id)
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
-- After each collect: the session's positions ({key, "seq n", ...}), and the sequence up to
-- which it has everything (the bucket's, or 0 when the take stopped at MAX with more left).
local POS, UPTO = {}, 0
-- The session's new mail, oldest first, at most MAX: its direct mail and what its logs have
-- after its positions, merged by sequence (a publish in two of its logs once; a publish that
-- excluded it skipped). Empties the queue and moves the positions over what it took, no
-- further. Adds what the logs' trim dropped before the session read it to drops[id].
local function collect(id, s)
  POS, UPTO = {}, tonumber(redis.call('GET', T .. ':seq') or '0')
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
  if cut then UPTO = 0 end
  local moved = {}
  if #items == 0 then
    for i = 1, #state, 2 do
      if string.sub(state[i], 1, 2) == 'c:' then
        POS[#POS + 1] = string.sub(state[i], 3)
        POS[#POS + 1] = state[i + 1]
      end
    end
    return out
  end
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
    if #out >= MAX and not again then
      UPTO = 0
      break
    end
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
      moved[L.field] = seqText(e[1]) .. ' ' .. e[2][2]
    elseif L.gap then
      moved[L.field] = L.gap
    end
    if moved[L.field] then redis.call('HSET', s, L.field, moved[L.field]) end
  end
  for i = 1, #state, 2 do
    if string.sub(state[i], 1, 2) == 'c:' then
      POS[#POS + 1] = string.sub(state[i], 3)
      POS[#POS + 1] = moved[state[i]] or state[i + 1]
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
   * The connect cycle's calls, merged, as bxMany (same operations), with the log take.
   * KEYS[1]: T:exp. ARGV: T, P, F, me, maxQueue, then four values per operation. Replies
   * differ from bxMany's where the process needs the session's read positions:
   *
   *   'b'  as bxMany's; when held: {first, 1, batch, upto, ack (1/0), #keys, key, position, …}:
   *        the positions it holds with, complete up to sequence `upto`
   *   't', 'x'   nil when the session is unknown (or 't' piggybacking on an acknowledged
   *        session); else {got (1/0), batch, upto, #keys, key, position, …, payloads…}
   *        (`upto` 0: the take stopped at maxQueue with more left). 'x' ends the hold when got;
   *        when another process holds the session now, 'x' → {3, -1, 0, 0}, nothing done
   *   'e'  as bxMany's
   *   'c', id, deadline ('' keeps the hold), "key\nwas\nnow\n…"   commit a process read: when
   *        the session is held by me, has no direct mail, no acknowledged delivery, and each
   *        key's position is still `was`, the positions become `now` (and with a deadline
   *        the hold ends, as 'x' would) → {2, -1, 0, 0}: the process hands out what it read.
   *        Held by another process (or by none) → {3, -1, 0, 0}, nothing done. Otherwise the
   *        session's own take, as 'x' (with a deadline) or 't' (without) → as theirs
   *
   * Then pairs (session, dropped): entries the logs' trim dropped before that session read them.
   */
  lxMany: [
    1,
    bucket(`
local me = ARGV[4]
local MAX = tonumber(ARGV[5])
local drops = {}
${TAKE}
${HOLD_HELPERS}-- A take with its positions: {got, batch, upto, #keys, key, position, ..., payloads...}.
local function taken(s, id, deadline)
  local mail = {-1}
  local got = take(id, mail, 1)
  if got and deadline then unhold(s, id, deadline) end
  local r = {got and 1 or 0, mail[1], UPTO, #POS / 2}
  for _, v in ipairs(POS) do r[#r + 1] = v end
  for i = 2, #mail do r[#r + 1] = mail[i] end
  return r
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
        r[4] = UPTO
        r[5] = redis.call('HGET', s, 'a') == '1' and 1 or 0
        r[6] = #POS / 2
        for _, v in ipairs(POS) do r[#r + 1] = v end
      else
        redis.call('HSET', s, 'h', '')
      end
    end
  elseif op == 't' then
    if redis.call('EXISTS', s) == 1 and (a ~= '1' or redis.call('HGET', s, 'a') ~= '1') then r = taken(s, id, nil) end
  elseif op == 'x' then
    if redis.call('EXISTS', s) == 1 then
      if mine(s) then r = taken(s, id, a) else r = {3, -1, 0, 0} end
    end
  elseif op == 'c' then
    if redis.call('EXISTS', s) == 1 then
      if redis.call('HGET', s, 'h') ~= me then
        r = {3, -1, 0, 0}
      else
        local ok = redis.call('HGET', s, 'a') ~= '1' and redis.call('EXISTS', sk('q', id)) == 0
        local sets = {}
        if ok then
          for key, was, now in string.gmatch(ARGV[i + 3], '([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n') do
            if redis.call('HGET', s, 'c:' .. key) ~= was then
              ok = false
              break
            end
            sets[#sets + 1] = 'c:' .. key
            sets[#sets + 1] = now
          end
        end
        if ok then
          if #sets > 0 then redis.call('HSET', s, unpack(sets)) end
          if a ~= '' then unhold(s, id, a) end
          r = {2, -1, 0, 0}
        else
          r = taken(s, id, a ~= '' and a or nil)
        end
      end
    end
  elseif redis.call('EXISTS', s) == 1 then
    local own = mine(s)
    if own then unhold(s, id, a) end
    r = {-1}
    if own and ARGV[i + 3] == '1' then take(id, r, 1) end
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
  /**
   * The process read (see the file comment). ARGV: T, P, F, maxQueue, then pairs (key,
   * from): the entries of each key's log after sequence `from` (at most maxQueue), all read
   * at one instant. → {the bucket's sequence now, entries of key 1, …}.
   */
  lxRead: [
    1,
    bucket(`
local res = {tonumber(redis.call('GET', T .. ':seq') or '0')}
for i = 5, #ARGV, 2 do
  res[#res + 1] = redis.call('XRANGE', T .. ':l:' .. ARGV[i], '(' .. ARGV[i + 1] .. '-0', '+', 'COUNT', ARGV[4])
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
   * the bucket, under one new sequence number, and sends one notice per log appended to (on
   * the channel named as the log's key, carrying the sequence). → {count, empties}: the sessions it is for (exclude left out, a session
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
-- One notice per log, on the log's own channel (named as its key): the processes holding
-- sessions subscribed to it listen there. No subscriber is looked at.
local seq = string.sub(id, 1, -3)
for _, c in ipairs(keys) do redis.call(PUB, T .. ':l:' .. c, seq) end
return {count, empties}
`),
  ],
  /**
   * As bxSubscribe; each new subscription's position is the end of its log now. A held
   * session's holder is told, on P:w:<holder>: "+" then the id, the bucket's sequence and
   * each new key and its position, one a line; it then listens to those logs' notices too.
   * ARGV: T, P, F, id, max, channels... → -1 unknown, 0 over the limit, 1 ok.
   */
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
local told = {}
for i = 6, #ARGV do
  local c = ARGV[i]
  if redis.call('SADD', subs, c) == 1 then
    redis.call('SADD', T .. ':ch:' .. c, id)
    redis.call('HINCRBY', T .. ':subs', c, 1)
    local p = seq .. ' ' .. (redis.call('HGET', T .. ':n', c) or '0')
    redis.call('HSET', KEYS[1], 'c:' .. c, p)
    told[#told + 1] = c
    told[#told + 1] = p
    event({'s', id, c})
  end
end
local h = #told > 0 and holder(id)
if h then notify(h, '+' .. id .. '\\n' .. seq .. '\\n' .. table.concat(told, '\\n')) end
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
