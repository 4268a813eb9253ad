-- Stamps a key as active now (prelude: owns.lua): ARGV[4] now (ms since
-- the UNIX epoch). KEYS[3] its meta. Returns 1 if the key held a session.
if redis.call('EXISTS', KEYS[3]) == 0 then
  return 0
end
redis.call('HSET', KEYS[3], 'active_ms', ARGV[4])
return 1
