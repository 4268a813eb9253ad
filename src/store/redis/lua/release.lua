-- Gives a lease up, if the caller still holds it, and marks the session
-- as given up on purpose: its tasks wait for its next load, and the other
-- nodes' scan for sessions whose owner died leaves it alone.
-- KEYS[1] the lease, KEYS[2] the mark; ARGV[1] the caller's lease value.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1')
  return 1
end
return 0
