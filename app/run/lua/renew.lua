-- One atomic step of the Redis ledger (`RedisLedger`, app/distributed.py).
-- KEYS: job hash, then the job's locks. ARGV: delivery, attempt token, lease seconds.

-- Times are the Redis server's, so workers whose clocks differ agree on leases.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

if redis.call('HGET', KEYS[1], 'state') ~= 'running'
  or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'lease_until', now + tonumber(ARGV[3]))
for i = 2, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder == false or holder == ARGV[1] then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', math.floor(tonumber(ARGV[3]) * 1000))
  end
end
return 1
