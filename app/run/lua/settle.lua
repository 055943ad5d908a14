-- One atomic step of the Redis ledger (`RedisLedger`, app/distributed.py).
-- KEYS: job hash, state index prefix, then the job's locks. ARGV: delivery, attempt token,
-- new state, reason, attempts change, run_after delay, the check run to keep ('keep' for
-- the recorded one, '' to forget it: a retry whose attempt completed it as failed),
-- expiry seconds of a finished job's hash.
-- Only the attempt holding a running job may end or return it.

-- Times are the Redis server's, so workers whose clocks differ agree on leases.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local key = KEYS[1]
if redis.call('HGET', key, 'state') ~= 'running' or redis.call('HGET', key, 'owner') ~= ARGV[2]
then
  return 0
end
local fields = {'state', ARGV[3], 'owner', '', 'lease_until', 0, 'reason', ARGV[4]}
if ARGV[7] ~= 'keep' then
  table.insert(fields, 'check_run_id')
  table.insert(fields, ARGV[7])
end
if ARGV[3] == 'pending' then
  table.insert(fields, 'run_after')
  table.insert(fields, now + tonumber(ARGV[6]))
else
  table.insert(fields, 'finished_at')
  table.insert(fields, now)
end
redis.call('HSET', key, unpack(fields))
if tonumber(ARGV[5]) ~= 0 then
  redis.call('HINCRBY', key, 'attempts', tonumber(ARGV[5]))
end
redis.call('ZREM', KEYS[2] .. 'running', ARGV[1])
redis.call('ZADD', KEYS[2] .. ARGV[3], redis.call('HGET', key, 'id'), ARGV[1])
if ARGV[3] ~= 'pending' then
  redis.call('EXPIRE', key, tonumber(ARGV[8]))
end
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
  end
end
return 1
