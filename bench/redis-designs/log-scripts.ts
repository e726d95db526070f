/**
 * Prototype Lua of the channel-log designs (B and C) of `npm run bench -- redis-designs`.
 * A measurement, not the engine: only what the bench's connect cycle needs (create and
 * subscribe, publish, begin a connect, take, end a hold, write positions), but written as
 * the engine would have it, so the design chosen can start from here.
 *
 * One global message sequence orders every publish; a publish appends (id, payload) to the
 * log of every subscription key that has subscribers (the channel and the wildcard
 * patterns that match it, see expandChannel), all under the same id, and sends one notice
 * per log appended to. A session keeps, per subscription, its position in that log (the
 * id of the last entry it got); a take reads each of its logs after its position, merges
 * by id (a publish matched by two of its subscriptions is in both logs under one id: it
 * is taken once) and advances the positions. So a publish costs O(keys), not
 * O(subscribers), and a take costs O(subscriptions + messages).
 *
 * Logs are Redis streams, not list + hash: one key per log; XRANGE reads "after my
 * position" by id without knowing an index; XADD … MAXLEN trims in the same command; the
 * entries sit in listpacks with delta-encoded ids, so an entry costs little more than its
 * payload. A list + hash needs two keys per log, an index per position (position →
 * offset, which shifts when the list is trimmed) and an HDEL per trimmed entry.
 *
 * Key layout (T = `{P:log}`, one hash tag, so every script is single-slot; see the notes in
 * docs/scaling.md on what that puts on one Cluster node):
 *
 *   T:seq          string  the global sequence (INCR): the id of the latest publish
 *   T:subs         hash    key → its number of subscribers (a publish appends only where > 0)
 *   T:n            hash    key → number of entries ever appended to its log (entry ordinals)
 *   T:l:<key>      stream  the key's log: entry id `<seq>-0`, fields n (the entry's ordinal in
 *                          this log) and p (the payload), and x (a session the publish
 *                          excludes), when there is one
 *   T:s:<id>       hash    a session: h = process holding its connect ('' none), and per
 *                          subscription `c:<key>` = "<seq> <n>", the id and ordinal of the
 *                          last entry it got from that log
 *   T:exp          zset    sessions by expiry time (as today)
 *   T:w:<key>      pub/sub a notice per append, carrying the id; a process subscribes to the
 *                          keys its held sessions need
 *
 * Ids order all publishes but do not count one log's entries (they are interleaved with
 * other channels'), so each entry carries its ordinal n in its log: a session whose next
 * entry has ordinal m while its position is at ordinal k lost m − k − 1 entries to the trim.
 */

/** Helpers of every log script. ARGV[1] is T. */
const LIB = `
local T = ARGV[1]
-- The sequence number in a stream entry id '<seq>-0'.
local function seqOf(entryId) return tonumber(string.sub(entryId, 1, -3)) end
`;

/**
 * Reads a session's new entries: for each of its subscriptions, the entries of that log
 * after its position (at most MAX), then the payloads in id order, once each, appended to
 * out; positions advanced. Returns whether there were any, how many the trim dropped, the
 * cut (every entry up to this id was seen: the current sequence, or less when a log had
 * more than MAX to read) and the positions after, as a flat key, position list.
 */
const TAKE = `
local function take(s, id, seq, out)
  local state = redis.call('HGETALL', s)
  local logs, moved, pos = {}, {}, {}
  local dropped, cut = 0, seq
  for i = 1, #state, 2 do
    local field = state[i]
    if string.sub(field, 1, 2) == 'c:' then
      local key = string.sub(field, 3)
      local at, n = string.match(state[i + 1], '^(%d+) (%d+)$')
      local es = redis.call('XRANGE', T .. ':l:' .. key, '(' .. at .. '-0', '+', 'COUNT', MAX)
      local p = state[i + 1]
      if #es > 0 then
        local first = tonumber(es[1][2][2])
        if first > tonumber(n) + 1 then dropped = dropped + first - tonumber(n) - 1 end
        local last = es[#es]
        p = seqOf(last[1]) .. ' ' .. last[2][2]
        moved[#moved + 1] = field
        moved[#moved + 1] = p
        logs[#logs + 1] = es
        if #es == MAX then cut = math.min(cut, seqOf(last[1])) end
      end
      pos[#pos + 1] = key
      pos[#pos + 1] = p
    end
  end
  if #logs == 0 then return false, 0, cut, pos end
  redis.call('HSET', s, unpack(moved))
  -- e[2] is {'n', ordinal, 'p', payload[, 'x', excluded session]}.
  if #logs == 1 then
    for _, e in ipairs(logs[1]) do
      if e[2][6] ~= id then out[#out + 1] = e[2][4] end
    end
  else
    -- A publish matched by several subscriptions is in each of their logs under one id.
    local all = {}
    for _, es in ipairs(logs) do
      for _, e in ipairs(es) do all[#all + 1] = {seqOf(e[1]), e[2][4], e[2][6]} end
    end
    table.sort(all, function(a, b) return a[1] < b[1] end)
    local prev = -1
    for _, m in ipairs(all) do
      if m[1] ~= prev and m[3] ~= id then out[#out + 1] = m[2] end
      prev = m[1]
    end
  end
  return true, dropped, cut, pos
end
`;

/** Script name → Lua. Every script: KEYS[1] = T:seq (routes the call to the tag's node), ARGV[1] = T. */
export const LOG_SCRIPTS = {
  /**
   * ARGV: T, id, deadline, keys… Creates a session subscribed to the keys, each position at
   * the end of its log now (it gets what is published from here on).
   */
  dlCreate: `${LIB}
local id = ARGV[2]
local s = T .. ':s:' .. id
local seq = redis.call('GET', KEYS[1]) or '0'
redis.call('HSET', s, 'h', '')
for i = 4, #ARGV do
  local key = ARGV[i]
  local n = redis.call('HGET', T .. ':n', key) or '0'
  if redis.call('HSETNX', s, 'c:' .. key, seq .. ' ' .. n) == 1 then redis.call('HINCRBY', T .. ':subs', key, 1) end
end
redis.call('ZADD', T .. ':exp', ARGV[3], id)
return 1
`,
  /**
   * ARGV: T, maxQueue, payload, exclude ('' none), keys… (the channel's expansion). Appends
   * the payload under the next id to the log of every key with subscribers, trimmed to
   * about maxQueue entries, and sends one notice per log. → {id, logs appended to}.
   */
  dlPublish: `${LIB}
local max, payload, exclude = ARGV[2], ARGV[3], ARGV[4]
local seq = redis.call('INCR', KEYS[1])
local appended = 0
for i = 5, #ARGV do
  local key = ARGV[i]
  if tonumber(redis.call('HGET', T .. ':subs', key) or '0') > 0 then
    local n = redis.call('HINCRBY', T .. ':n', key, 1)
    -- MAXLEN ~ trims whole listpack nodes only: cheap, keeps at least maxQueue entries.
    if exclude == '' then
      redis.call('XADD', T .. ':l:' .. key, 'MAXLEN', '~', max, seq .. '-0', 'n', n, 'p', payload)
    else
      redis.call('XADD', T .. ':l:' .. key, 'MAXLEN', '~', max, seq .. '-0', 'n', n, 'p', payload, 'x', exclude)
    end
    redis.call('PUBLISH', T .. ':w:' .. key, seq)
    appended = appended + 1
  end
end
return {seq, appended}
`,
  /**
   * The connect cycle, merged (as the engine's bxMany). ARGV: T, me (this process), maxQueue,
   * then four values per operation:
   *   'b', id, hold ('1'/'0'), lease   begin a connect: take the mail (a session read); with
   *                                    none and hold, mark the session held by me
   *   'x', id, deadline, ''            design B's woken hold: take the mail and, if there was
   *                                    any, end the hold (the session's own read of its logs)
   *   'e', id, deadline, positions     design C: write positions the process read for the
   *                                    session ("key\\nseq n\\n…"; forward only), and with a
   *                                    deadline end the hold; without ('') only the positions
   * → per operation 0 (unknown session) or {held (1/0), cut, dropped, #positions, key,
   * position, …, payloads…}; for 'e', 1.
   */
  dlMany: `${LIB}
local me = ARGV[2]
local MAX = tonumber(ARGV[3])
${TAKE}
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local function reply(held, cut, dropped, pos, out)
  local r = {held, cut, dropped, #pos / 2}
  for _, v in ipairs(pos) do r[#r + 1] = v end
  for _, v in ipairs(out) do r[#r + 1] = v end
  return r
end
local res = {}
for i = 4, #ARGV, 4 do
  local op, id, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local s = T .. ':s:' .. id
  local r = 0
  if op == 'b' then
    if redis.call('EXISTS', s) == 1 then
      redis.call('ZADD', T .. ':exp', b, id)
      local out = {}
      local got, dropped, cut, pos = take(s, id, seq, out)
      local held = 0
      if got or a ~= '1' then
        redis.call('HSET', s, 'h', '')
      else
        redis.call('HSET', s, 'h', me)
        held = 1
      end
      r = reply(held, cut, dropped, pos, out)
    end
  elseif op == 'x' then
    local out = {}
    local got, dropped, cut, pos = take(s, id, seq, out)
    if got then
      redis.call('HSET', s, 'h', '')
      redis.call('ZADD', T .. ':exp', a, id)
      r = reply(0, cut, dropped, pos, out)
    else
      r = reply(1, cut, 0, pos, out)
    end
  elseif op == 'e' then
    if redis.call('EXISTS', s) == 1 then
      for key, p in string.gmatch(b, '([^\\n]+)\\n([^\\n]+)') do
        -- Forward only: another process may have moved the session on meanwhile.
        local cur = redis.call('HGET', s, 'c:' .. key)
        if cur and tonumber(string.match(p, '^%d+')) > tonumber(string.match(cur, '^%d+')) then
          redis.call('HSET', s, 'c:' .. key, p)
        end
      end
      if a ~= '' then
        redis.call('HSET', s, 'h', '')
        redis.call('ZADD', T .. ':exp', a, id)
      end
      r = 1
    end
  end
  res[#res + 1] = r
end
return res
`,
  /**
   * Design C's process read. ARGV: T, maxQueue, then pairs (key, from): the entries of each
   * log after `from` (at most maxQueue), read at one instant, so the process can hand them
   * out to its held sessions as one consistent cut. → {seq, entries of key 1, …}.
   */
  dlRead: `${LIB}
local res = {tonumber(redis.call('GET', KEYS[1]) or '0')}
for i = 3, #ARGV, 2 do
  res[#res + 1] = redis.call('XRANGE', T .. ':l:' .. ARGV[i], '(' .. ARGV[i + 1] .. '-0', '+', 'COUNT', ARGV[2])
end
return res
`,
} as const;

export type LogScriptName = keyof typeof LOG_SCRIPTS;
