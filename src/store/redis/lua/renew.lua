-- Renews a lease the caller holds (prelude: owns.lua, which also takes
-- back a lease that expired with nobody else taking the key).
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
