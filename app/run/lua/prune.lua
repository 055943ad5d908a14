-- One atomic step of the Redis ledger (`RedisLedger`, app/distributed.py).
-- KEYS: state index prefix. ARGV: how many of each final state to look at. Forgets the
-- finished jobs whose entry expired (after KEEP_FINISHED_SECONDS, app/model.py) from the state indexes.

local removed = 0
local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #'state:')
for _, state in ipairs({'done', 'failed', 'superseded'}) do
  for _, delivery in ipairs(redis.call('ZRANGE', KEYS[1] .. state, 0, tonumber(ARGV[1]) - 1)) do
    if redis.call('EXISTS', prefix .. 'job:' .. delivery) == 0 then
      redis.call('ZREM', KEYS[1] .. state, delivery)
      removed = removed + 1
    end
  end
end
return removed
