-- The run job's step once nothing of a run runs and nothing more can start by itself: a pausing
-- run becomes paused (its halt is 'paused', run-pause.lua), a run whose nodes wait for a person
-- becomes held (its halt is 'held', node-hold in node-fail.lua). Either rests until a person acts
-- (run-resume.lua), or the run is cancelled. A run resumed with held nodes left is held again. Done once: the same step again changes nothing.
-- KEYS[1] run hash, KEYS[2] run event stream, KEYS[3] global event stream,
-- KEYS[4] prefix of the runs-by-status indexes, KEYS[5] ended runs
-- ARGV[1] 'paused' | 'held', ARGV[2] the event to append (JSON, or '' for none), ARGV[3] global
-- stream max length, ARGV[4] run stream max length, ARGV[5] now (ISO)
-- Returns 1 if the run now rests so, 0 if it already did, -1 if its halt says otherwise (it was
-- resumed or cancelled meanwhile) or it has ended.
--- @include "append-event"
--- @include "set-run-status"

local run = redis.call('HMGET', KEYS[1], 'status', 'halt')
-- Held nodes left after a resume hold the run again.
if ARGV[1] == 'held' and run[1] and (run[2] or '') == '' then
  redis.call('HSET', KEYS[1], 'halt', 'held')
  run[2] = 'held'
end
if not run[1] or (run[2] or '') ~= ARGV[1] then return -1 end
if run[1] == ARGV[1] then return 0 end
if run[1] ~= 'queued' and run[1] ~= 'running' and run[1] ~= 'held' then return -1 end
setRunStatus(KEYS[1], KEYS[4], KEYS[5], ARGV[1])
redis.call('HSET', KEYS[1], 'rested_at', ARGV[5])
if ARGV[2] ~= '' then appendEvent(KEYS[2], KEYS[3], ARGV[2], ARGV[4], ARGV[3]) end
return 1
