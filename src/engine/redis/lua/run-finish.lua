-- Ends a run, once: a run already ended keeps its status. Ends the run's device reservations.
-- KEYS[1] run hash, KEYS[2] run event stream, KEYS[3] global event stream, KEYS[4] active runs set,
-- KEYS[5] device reservations hash (device -> run), KEYS[6] this run's reservations,
-- KEYS[7] set of jobs waiting for a reservation to end, KEYS[8] prefix of the runs-by-status indexes,
-- KEYS[9] ended runs
-- ARGV[1] 'completed' | 'failed' | 'cancelled', ARGV[2] now (ISO), ARGV[3] execution time (s),
-- ARGV[4] error JSON or '', ARGV[5] event JSON, ARGV[6] global stream max length,
-- ARGV[7] channel on which the run's id is published, for those waiting for it to end,
-- ARGV[8] run stream max length, ARGV[9] seconds the run stream lives from now (0: for ever)
-- The run stream then expires (run-resume.lua persists it again); the run's record stays.
-- Returns {the run's status after the call, waiting jobs to wake...}.
--- @include "append-event"
--- @include "set-run-status"
--- @include "release-reservations"

local status = redis.call('HGET', KEYS[1], 'status')
-- A run removed (its retention passed, or discarded) is not brought back as a husk.
if not status then return {''} end
if status == 'completed' or status == 'failed' or status == 'cancelled' then return {status} end
setRunStatus(KEYS[1], KEYS[8], KEYS[9], ARGV[1])
-- An ended run waits for no approval (a halt ends waiting nodes first): out of that index, whatever.
redis.call('ZREM', KEYS[8] .. 'waiting', redis.call('HGET', KEYS[1], 'run_id'))
redis.call('HSET', KEYS[1], 'finished_at', ARGV[2], 'execution_time', ARGV[3], 'error', ARGV[4])
appendEvent(KEYS[2], KEYS[3], ARGV[5], ARGV[8], ARGV[6])
if tonumber(ARGV[9]) > 0 then redis.call('EXPIRE', KEYS[2], ARGV[9]) end
local runId = redis.call('HGET', KEYS[1], 'run_id')
redis.call('SREM', KEYS[4], runId)
redis.call('PUBLISH', ARGV[7], runId)
local result = {ARGV[1]}
if releaseReservations(KEYS[5], KEYS[6], runId) then
  for _, waiter in ipairs(redis.call('SMEMBERS', KEYS[7])) do result[#result + 1] = waiter end
  redis.call('DEL', KEYS[7])
end
return result
