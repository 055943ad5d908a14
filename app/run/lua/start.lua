-- One atomic step of the Redis ledger (`RedisLedger`, app/distributed.py).
-- KEYS: job hash, state index prefix, then the job's locks (its head, each of its PRs).
-- ARGV: delivery, attempt token, lease seconds. Returns {verdict, detail, attempt,
-- recovered, check_run_id, id, created_at}. A running job whose lease lives is busy
-- whoever asks: each attempt has its own token.

-- Times are the Redis server's, so workers whose clocks differ agree on leases.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local key = KEYS[1]
local state = redis.call('HGET', key, 'state')
if not state then
  return {'missing', '', 0, 0, '', 0, ''}
end
if state == 'done' or state == 'superseded' or state == 'failed' then
  return {'skip', 'already ' .. state, 0, 0, '', 0, ''}
end
local lease_until = tonumber(redis.call('HGET', key, 'lease_until') or '0')
if state == 'running' and lease_until >= now then
  redis.call('HSET', key, 'sent_at', now)  -- its message is alive: not a stray
  return {'busy', tostring(lease_until - now), 0, 0, '', 0, ''}
end
local run_after = tonumber(redis.call('HGET', key, 'run_after') or '0')
if state == 'pending' and run_after > now then  -- a retry's back-off, even if redelivered
  redis.call('HSET', key, 'sent_at', now)
  return {'busy', tostring(run_after - now), 0, 0, '', 0, ''}
end
for i = 3, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[1] then
    redis.call('HSET', key, 'sent_at', now)
    return {'busy', tostring(math.max(redis.call('PTTL', KEYS[i]), 100) / 1000), 0, 0, '', 0, ''}
  end
end
local lease_ms = math.floor(tonumber(ARGV[3]) * 1000)
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', lease_ms)
end
local attempts = redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', key, 'state', 'running', 'owner', ARGV[2],
  'lease_until', now + tonumber(ARGV[3]), 'started_at', now)
redis.call('ZREM', KEYS[2] .. 'pending', ARGV[1])
redis.call('ZADD', KEYS[2] .. 'running', redis.call('HGET', key, 'id'), ARGV[1])
local recovered = 0
if state == 'running' then recovered = 1 end
return {'run', '', attempts, recovered, redis.call('HGET', key, 'check_run_id'),
  tonumber(redis.call('HGET', key, 'id')), redis.call('HGET', key, 'created_at')}
