-- One atomic step of the Redis ledger (`RedisLedger`, app/distributed.py).
-- KEYS: job hash, state index prefix, id counter. ARGV: delivery, job json, kind,
-- repository, head, pull_requests json. Returns 1 when the job should be sent to the
-- workers: new, redelivered after failing, or still pending (a process that accepted it
-- may have died before sending it; a duplicate message is dropped when it starts).

-- Times are the Redis server's, so workers whose clocks differ agree on leases.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local key = KEYS[1]
local state = redis.call('HGET', key, 'state')
if state then
  if state == 'failed' then
    redis.call('PERSIST', key)  -- finished entries expire; this one is live again
    redis.call('HSET', key, 'state', 'pending', 'attempts', 0, 'check_run_id', '',
      'finished_at', '', 'run_after', now, 'sent_at', now,
      'reason', 'redelivered after: ' .. (redis.call('HGET', key, 'reason') or ''))
    redis.call('ZREM', KEYS[2] .. 'failed', ARGV[1])
    redis.call('ZADD', KEYS[2] .. 'pending', redis.call('HGET', key, 'id'), ARGV[1])
    return 1
  end
  if state == 'pending' then
    redis.call('HSET', key, 'sent_at', now)
    return 1
  end
  return 0
end
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', key, 'id', id, 'delivery_id', ARGV[1], 'job', ARGV[2], 'kind', ARGV[3],
  'repository', ARGV[4], 'head_sha', ARGV[5], 'pull_requests', ARGV[6], 'state', 'pending',
  'attempts', 0, 'created_at', now, 'run_after', now, 'sent_at', now, 'reason', '',
  'owner', '', 'lease_until', 0, 'check_run_id', '', 'started_at', '', 'finished_at', '')
redis.call('ZADD', KEYS[2] .. 'pending', id, ARGV[1])
return 1
