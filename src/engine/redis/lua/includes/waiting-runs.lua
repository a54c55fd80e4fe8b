-- Keeps the index of runs with an approval waiting for a person ('<runs-by-status prefix>waiting',
-- by sequence, as the status indexes are) in step with the run's count of waiting nodes, so a run
-- list filtered 'waiting' reads it rather than every run. Called by every script that moves a node
-- into or out of 'waiting'.
local function syncWaitingRuns(runHash, nodesKey, statusIndexPrefix)
  local run = redis.call('HMGET', runHash, 'sequence', 'run_id')
  if not run[2] then return end
  if (tonumber(redis.call('HGET', nodesKey, '#waiting')) or 0) > 0 then
    redis.call('ZADD', statusIndexPrefix .. 'waiting', run[1], run[2])
  else
    redis.call('ZREM', statusIndexPrefix .. 'waiting', run[2])
  end
end
