-- One atomic step of the Redis ledger (`RedisLedger`, app/distributed.py).
-- KEYS: state index prefix. ARGV: seconds a pending job may go unsent, how many to look at.
-- Returns the deliveries whose message may be lost: pending and not sent for that long
-- (its process died between accepting and sending, or dramatiq gave the message up), or
-- running with a lease that ran out that long ago. Marks them sent now.

-- Times are the Redis server's, so workers whose clocks differ agree on leases.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local found = {}
local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #'state:')
for _, state in ipairs({'pending', 'running'}) do
  for _, delivery in ipairs(redis.call('ZRANGE', KEYS[1] .. state, 0, tonumber(ARGV[2]) - 1)) do
    local key = prefix .. 'job:' .. delivery
    local stale = false
    if redis.call('EXISTS', key) == 0 then
      redis.call('ZREM', KEYS[1] .. state, delivery)  -- an index entry without its job
    elseif state == 'pending' then
      local sent = tonumber(redis.call('HGET', key, 'sent_at') or '0')
      local after = tonumber(redis.call('HGET', key, 'run_after') or '0')
      stale = now - math.max(sent, after) > tonumber(ARGV[1])
    else
      local lease = tonumber(redis.call('HGET', key, 'lease_until') or '0')
      local sent = tonumber(redis.call('HGET', key, 'sent_at') or '0')
      stale = now - math.max(lease, sent) > tonumber(ARGV[1])
    end
    if stale then
      redis.call('HSET', key, 'sent_at', now)
      table.insert(found, redis.call('HGET', key, 'job'))
    end
  end
end
return found
