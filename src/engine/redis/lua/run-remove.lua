-- Removes an ended run whose retention has passed: its record, node states, outputs, events and
-- reservations (and the devices it still reserved), its entries in every run index, and its
-- reference to its plan. A run resumed since it was picked (so no longer among the ended runs, or
-- ended again since, later) is left alone. With ARGV[2] 'any', the run is removed whatever its state
-- (a run that could not be enqueued).
-- It deletes before it writes: while Redis refuses writes for memory it lets a script start that
-- frees first, and once the script has written, the rest of it goes through. This is what makes room.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run outputs hash, KEYS[4] run event stream,
-- KEYS[5] this run's reservations, KEYS[6] runs index, KEYS[7] ended runs, KEYS[8] active runs set,
-- KEYS[9] prefix of the runs-by-status indexes, KEYS[10] prefix of the pipeline-runs indexes,
-- KEYS[11] prefix of the plans, KEYS[12] device reservations hash (device -> run)
-- ARGV[1] run id, ARGV[2] the latest end time (ms) that may be removed, or 'any'
-- Returns 1 if the run was removed, 0 if it was left.
--- @include "release-plan"
--- @include "release-reservations"

if ARGV[2] ~= 'any' then
  local endedAt = redis.call('ZSCORE', KEYS[7], ARGV[1])
  if not endedAt or tonumber(endedAt) > tonumber(ARGV[2]) then return 0 end
end
-- A run whose record is missing still loses its index entries, so none is left to trip over.
local run = redis.call('HMGET', KEYS[1], 'status', 'pipeline_id', 'plan_id')
releaseReservations(KEYS[12], KEYS[5], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
if run[1] then redis.call('ZREM', KEYS[9] .. run[1], ARGV[1]) end
-- And from the index of runs with an approval waiting, which follows nodes, not the run's status.
redis.call('ZREM', KEYS[9] .. 'waiting', ARGV[1])
if run[2] then redis.call('ZREM', KEYS[10] .. run[2], ARGV[1]) end
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('SREM', KEYS[8], ARGV[1])
releasePlan(KEYS[11], run[3])
if run[1] then return 1 end
return 0
