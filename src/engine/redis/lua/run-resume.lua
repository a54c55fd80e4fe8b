-- Resumes a failed or cancelled run ('retry'), or a paused one ('unpause'), in a new epoch; every
-- job of the old epoch is now stale, so new jobs get new ids. Its failed, cancelled and held nodes
-- (a retry), or its queued ones (an unpause: their jobs ended without running), go back to pending
-- just after, by batches
-- (nodes-reset.lua), so that no one script walks every node of a large run (one that did took
-- 170 ms for 10,000 nodes). Until the reset is done, the run's 'resetting' names the epoch it is
-- for: whoever finds it so finishes it (the caller, or else the run job: run-start.lua answers it),
-- and pipeline_resumed is appended once it is done. Completed nodes keep their outputs.
-- KEYS[1] run hash, KEYS[2] run event stream, KEYS[3] active runs set,
-- KEYS[4] prefix of the runs-by-status indexes, KEYS[5] ended runs, KEYS[6] run nodes hash
-- ARGV[1] this resume's id: the same call again (ioredis resends a command whose reply was lost)
-- answers as the first did, so that its caller still resets the nodes and wakes the run job,
-- ARGV[2] 'retry' | 'unpause'
-- The run stream's expiry (set by run-finish.lua) is removed: it must not vanish mid-run.
-- Returns {status before, status after, epoch, 1 if it resumed (now, or as this very call before)};
-- nothing changes unless it was failed or cancelled (a retry), or paused and still pausing (an
-- unpause: a paused run cancelled since is not resumed). A run cancelled before it started goes back to queued, so that it starts
-- (pipeline_started) as usual.
--- @include "set-run-status"
--- @include "begin-epoch"

local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('RUN_NOT_FOUND') end
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0
local halt = redis.call('HGET', KEYS[1], 'halt') or ''
local allowed
if ARGV[2] == 'unpause' then
  allowed = status == 'paused' and halt == 'paused'
else
  allowed = status == 'failed' or status == 'cancelled'
end
if not allowed then
  local resumed = redis.call('HMGET', KEYS[1], 'resume_id', 'resumed_from')
  if resumed[1] == ARGV[1] then return {resumed[2], status, epoch, 1} end
  return {status, status, epoch, 0}
end
local after
after, epoch = beginEpoch(KEYS[1], KEYS[6], KEYS[3], KEYS[4], KEYS[5], ARGV[1], status)
redis.call('PERSIST', KEYS[2])
return {status, after, epoch, 1}
