-- Takes a new run's reference to its plan (plan-store.ts), once: the run's record names the plan
-- first, so this call made again (ioredis resends a command whose reply was lost) counts no second
-- reference, which would keep the plan for ever.
-- The plan's JSON is never an argument here: a script given a 10,000-node plan (1.3 MB) held Redis
-- 12-27 ms just taking it in, where a plain HSETNX of it takes about 1 ms. A plan not stored yet
-- answers -1, after giving its hash a one-hour expiry; the caller writes the JSON (HSETNX) and asks
-- again, and the reference removes the expiry. A caller that dies between leaves nothing for ever.
-- KEYS[1] run hash, KEYS[2] plan hash
-- ARGV[1] plan id, ARGV[2] the expiry (s) of a plan hash not referenced yet
-- Returns 1 if it took the reference, 0 if the run had one, -1 if the plan has no JSON yet.
if redis.call('HEXISTS', KEYS[1], 'plan_id') == 1 then return 0 end
if redis.call('HEXISTS', KEYS[2], 'json') == 0 then
  if redis.call('HEXISTS', KEYS[2], 'refs') == 0 then
    redis.call('HSET', KEYS[2], 'refs', 0)
    redis.call('EXPIRE', KEYS[2], ARGV[2])
  end
  return -1
end
redis.call('HSET', KEYS[1], 'plan_id', ARGV[1])
redis.call('HINCRBY', KEYS[2], 'refs', 1)
redis.call('PERSIST', KEYS[2])
return 1
