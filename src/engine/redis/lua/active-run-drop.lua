-- Takes a run out of the active runs if it has ended, or has no record: the reconciler's clean-up,
-- decided here rather than on what it read a moment before, when a run admitted just then
-- (run-admit.lua) may have been recorded since.
-- KEYS[1] run hash, KEYS[2] active runs set
-- ARGV[1] run id
-- Returns 1 if it was taken out, else 0.
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= 'completed' and status ~= 'failed' and status ~= 'cancelled' then return 0 end
return redis.call('SREM', KEYS[2], ARGV[1])
