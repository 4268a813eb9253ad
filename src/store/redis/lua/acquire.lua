-- Takes the key's lease for a node, or names who holds it.
-- KEYS[1] the lease, KEYS[2] the fencing counter, KEYS[3] the mark of a
-- lease given up on purpose (cleared by a new holder).
-- ARGV[1] the node id, ARGV[2] the lease in ms.
-- Returns {1, "<node>/<token>", over} when the node holds it (a lease it
-- already held is renewed and keeps its token), {0, holder, 0} otherwise.
-- A new holder's token is the counter's next value: it only grows. `over`
-- is 1 when the node took the session over: an earlier holder let the
-- lease lapse without giving it up (it died, or paused past its lease).
local held = redis.call('GET', KEYS[1])
local mine = ARGV[1] .. '/'
if held then
  if string.sub(held, 1, string.len(mine)) == mine then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, held, 0}
  end
  return {0, held, 0}
end
local given_up = redis.call('DEL', KEYS[3])
local token = redis.call('INCR', KEYS[2])
redis.call('PERSIST', KEYS[2])
local value = mine .. string.format('%d', token)
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
local over = 0
if token > 1 and given_up == 0 then
  over = 1
end
return {1, value, over}
