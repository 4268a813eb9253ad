-- Replaces everything kept for a key with a whole session (prelude:
-- owns.lua). KEYS[3..10] as in append.lua.
-- ARGV[5] the session (JSON, as `write.rs` encodes it: its journal is the
-- gapless tail ending at its seq), ARGV[6] now (ms since the UNIX epoch).
-- Returns how many restartable tasks the key has.
local s = cjson.decode(ARGV[5])
redis.call('DEL', KEYS[3], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
redis.call('SET', KEYS[4], s.state)
for _, d in ipairs(s.journal) do
  redis.call('RPUSH', KEYS[5], d)
end
for _, e in ipairs(s.recent) do
  redis.call('RPUSH', KEYS[6], e)
end
for _, e in ipairs(s.recent_chains) do
  redis.call('RPUSH', KEYS[7], e)
end
for _, c in ipairs(s.pending) do
  redis.call('HSET', KEYS[8], c[1], c[2])
  redis.call('RPUSH', KEYS[9], c[1])
end
for _, t in ipairs(s.tasks) do
  redis.call('HSET', KEYS[10], t[1], t[2])
end
redis.call('HSET', KEYS[3], 'seq', int(s.seq), 'epoch', s.epoch, 'cp_seq', int(s.seq),
  'journal_from', int(s.seq + 1 - #s.journal), 'summary', s.summary, 'active_ms', ARGV[6])
return #s.tasks
