-- Gives a lease up, if the caller still holds it.
-- KEYS[1] the lease; ARGV[1] the caller's lease value.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
