-- The prelude of every write: the caller must hold the key's lease.
-- KEYS[1] the lease, KEYS[2] the fencing counter.
-- ARGV[1] the caller's lease value "<node>/<token>", ARGV[2] the lease in
-- ms, ARGV[3] its token.
-- A lease that expired while nobody else took the key (the counter still
-- shows the caller's token) is taken again; any other holder, or a later
-- token, refuses the write: a node that lost the key never writes again.
local function int(n)
  return string.format('%d', n)
end
local held = redis.call('GET', KEYS[1])
if held ~= ARGV[1] then
  if held or redis.call('GET', KEYS[2]) ~= ARGV[3] then
    return redis.error_reply('FENCED the lease is held by ' .. tostring(held))
  end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
