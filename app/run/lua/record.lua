-- One atomic step of the Redis ledger (`RedisLedger`, app/distributed.py).
-- KEYS: job hash, state index prefix. ARGV: delivery, attempt token, record check run id.

if redis.call('HGET', KEYS[1], 'state') == 'running'
  and redis.call('HGET', KEYS[1], 'owner') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'check_run_id', ARGV[3])
  return 1
end
return 0
