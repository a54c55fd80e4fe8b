-- Admits a new run if fewer than the limit have not ended (MAX_ACTIVE_RUNS): counting and taking the
-- place are one step, so submissions racing at the limit cannot pass it. The run's record is written
-- next (RunStore.create); if that fails, RunStore.discard gives the place back.
-- KEYS[1] active runs set
-- ARGV[1] run id, ARGV[2] the limit
-- Returns how many runs had not ended, and 1 if this one was admitted, else 0. The same call made
-- again (a resend) answers as the first did.
local active = redis.call('SCARD', KEYS[1])
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {active - 1, 1} end
if active >= tonumber(ARGV[2]) then return {active, 0} end
redis.call('SADD', KEYS[1], ARGV[1])
return {active, 1}
