-- Starts a resting or ended run's next epoch: every job of the one before is stale from now on, so
-- new jobs get new ids. The run goes back to running (queued if it never started), its halt is
-- cleared, and it is 'resetting' until nodes-reset.lua has put back to pending the nodes it runs
-- again. `from` is the status it resumed from (it decides which nodes go back, and the event). A
-- run that goes on from resting with nodes still held holds again at once: while a node of it is
-- held, none starts (a retry, in contrast, runs its held nodes again).
-- Returns the run's status after, and the new epoch.
local function beginEpoch(runHash, nodesKey, activeRuns, statusIndexPrefix, endedRuns, resumeId, from)
  local epoch = redis.call('HINCRBY', runHash, 'epoch', 1)
  redis.call('SADD', activeRuns, redis.call('HGET', runHash, 'run_id'))
  local after = 'running'
  if (redis.call('HGET', runHash, 'started_at') or '') == '' then after = 'queued' end
  setRunStatus(runHash, statusIndexPrefix, endedRuns, after)
  redis.call('HSET', runHash, 'halt', '', 'halt_node', '', 'pause_mode', '', 'error', '', 'finished_at', '',
    'resetting', epoch, 'resume_id', resumeId, 'resumed_from', from)
  if (from == 'paused' or from == 'held') and (tonumber(redis.call('HGET', nodesKey, '#held')) or 0) > 0 then
    redis.call('HSET', runHash, 'halt', 'held')
  end
  return after, epoch
end
