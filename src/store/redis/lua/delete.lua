-- Deletes everything kept for a key but its fencing counter (prelude:
-- owns.lua), if it was last active before ARGV[4] (ms since the UNIX
-- epoch; "+inf" deletes whatever its age). KEYS[3..10] as in append.lua.
-- The counter expires after ARGV[5] ms instead, so a key started again
-- soon continues its tokens. Returns 1 if the key held a session, 0 if
-- not, -1 if it was active since the cutoff (nothing deleted).
local active = redis.call('HGET', KEYS[3], 'active_ms')
if active and ARGV[4] ~= '+inf' and tonumber(active) >= tonumber(ARGV[4]) then
  return -1
end
local existed = redis.call('EXISTS', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9],
  KEYS[10])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return existed
