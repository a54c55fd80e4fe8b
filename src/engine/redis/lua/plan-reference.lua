-- Takes a new run's reference to its plan (plan-store.ts), once: the run's record names the plan
-- first (HSETNX), so this call made again (ioredis resends a command whose reply was lost) counts
-- no second reference, which would keep the plan for ever.
-- KEYS[1] run hash, KEYS[2] plan hash
-- ARGV[1] plan id, ARGV[2] plan JSON
-- Returns 1 if it took the reference, 0 if the run had one.
if redis.call('HSETNX', KEYS[1], 'plan_id', ARGV[1]) == 0 then return 0 end
redis.call('HSETNX', KEYS[2], 'json', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'refs', 1)
return 1
