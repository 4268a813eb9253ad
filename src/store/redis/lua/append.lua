-- Appends one key's steps of a batch (prelude: owns.lua).
-- KEYS[3] meta (hash), KEYS[4] checkpoint, KEYS[5] deltas (list, oldest
-- first), KEYS[6] recent event ids, KEYS[7] recent chain ids (lists of
-- JSON [id, outcome]), KEYS[8] pending chains (hash id -> JSON), KEYS[9]
-- their order (list of ids), KEYS[10] restartable tasks (hash).
-- ARGV[4] how many recent ids to keep, ARGV[5] the steps (JSON array, as
-- `write.rs` encodes them), ARGV[6] now (ms since the UNIX epoch).
-- The deltas list always ends at the key's seq: its first element is the
-- delta of seq + 1 - LLEN. Returns how many restartable tasks the key has.
local limit = tonumber(ARGV[4])
local batch = redis.sha1hex(ARGV[5])
if redis.call('HGET', KEYS[3], 'last_append') == batch then
  -- Sent again (its answer was lost): applied already.
  return redis.call('HLEN', KEYS[10])
end
local steps = cjson.decode(ARGV[5])
local flat = redis.call('HGETALL', KEYS[3])
local m = {}
for i = 1, #flat, 2 do
  m[flat[i]] = flat[i + 1]
end
local exists = m.seq ~= nil
local seq = tonumber(m.seq or '0')
local cp_seq = tonumber(m.cp_seq or '0')
local journal_from = tonumber(m.journal_from or '1')
local epoch = m.epoch or ''

local function follows(at, st)
  if st.first then
    return at + 1 == st.first
  end
  return at == st.seq
end

-- The contract first, so a batch that breaks it writes nothing.
local at = exists and seq or nil
for _, st in ipairs(steps) do
  if not (at and follows(at, st)) and not st.checkpoint then
    local saved = at and int(at) or 'none'
    return redis.error_reply('INVALID the step at seq ' .. int(st.seq) ..
      ' does not follow saved seq ' .. saved .. ' and carries no checkpoint')
  end
  at = st.seq
end

local len = redis.call('LLEN', KEYS[5])
for _, st in ipairs(steps) do
  if exists and follows(seq, st) then
    if epoch ~= st.epoch then
      -- A new epoch's cursors never replay the old epoch's deltas.
      journal_from = seq + 1
      epoch = st.epoch
    end
  else
    -- The deltas restart at this step (it carries a checkpoint).
    redis.call('DEL', KEYS[5])
    len = 0
    epoch = st.epoch
    journal_from = st.first or (st.seq + 1)
    seq = journal_from - 1
    exists = true
  end
  local held_from = journal_from
  for _, d in ipairs(st.deltas) do
    redis.call('RPUSH', KEYS[5], d)
    len = len + 1
  end
  seq = st.seq
  if st.checkpoint then
    redis.call('SET', KEYS[4], st.checkpoint)
    cp_seq = st.seq
  end
  journal_from = math.min(math.max(st.journal_from, held_from), seq + 1)
  if st.event then
    redis.call('RPUSH', KEYS[6], st.event)
    redis.call('LTRIM', KEYS[6], -limit, -1)
  end
  if st.chain then
    redis.call('RPUSH', KEYS[7], st.chain)
    redis.call('LTRIM', KEYS[7], -limit, -1)
  end
  for _, c in ipairs(st.chains_added) do
    redis.call('HSET', KEYS[8], c[1], c[2])
    redis.call('RPUSH', KEYS[9], c[1])
  end
  for _, id in ipairs(st.chains_removed) do
    redis.call('HDEL', KEYS[8], id)
    redis.call('LREM', KEYS[9], 0, id)
  end
  for _, t in ipairs(st.tasks_started) do
    redis.call('HSET', KEYS[10], t[1], t[2])
  end
  for _, name in ipairs(st.tasks_ended) do
    redis.call('HDEL', KEYS[10], name)
  end
  if st.summary then
    redis.call('HSET', KEYS[3], 'summary', st.summary)
  end
end

-- The trim: keep the journal window and the deltas after the checkpoint.
local keep_from = math.min(journal_from, cp_seq + 1)
local deltas_from = seq + 1 - len
if keep_from > deltas_from then
  redis.call('LTRIM', KEYS[5], math.min(keep_from - deltas_from, len), -1)
end
redis.call('HSET', KEYS[3], 'seq', int(seq), 'epoch', epoch, 'cp_seq', int(cp_seq),
  'journal_from', int(journal_from), 'active_ms', ARGV[6], 'last_append', batch)
return redis.call('HLEN', KEYS[10])
