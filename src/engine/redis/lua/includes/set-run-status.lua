-- Sets a run's status and keeps the indexes that follow it in step: the run moves from its old
-- status's index to the new one's (scored by its sequence, as the runs index is), and is in the
-- ended runs (scored by when it ended, on Redis's clock, for the retention sweeper) exactly while it
-- has ended. Every change of a run's status goes through here, so a run list filtered by status can
-- read its index instead of every run.
local function setRunStatus(runHash, statusIndexPrefix, endedRuns, status)
  local run = redis.call('HMGET', runHash, 'status', 'sequence', 'run_id')
  if run[1] then redis.call('ZREM', statusIndexPrefix .. run[1], run[3]) end
  redis.call('HSET', runHash, 'status', status)
  redis.call('ZADD', statusIndexPrefix .. status, run[2], run[3])
  if status == 'completed' or status == 'failed' or status == 'cancelled' then
    local time = redis.call('TIME')
    redis.call('ZADD', endedRuns, tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000), run[3])
  else
    redis.call('ZREM', endedRuns, run[3])
  end
end
