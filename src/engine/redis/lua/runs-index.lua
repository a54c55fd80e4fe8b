-- Puts runs made before the run indexes existed into them: each into its pipeline's index and its
-- status's index, and an ended one into the ended runs. A run already in an index (a status change
-- since put it there, through set-run-status) is left where it is, so this cannot undo a change that
-- came after its caller read the run.
-- KEYS[1] prefix of the run hashes, KEYS[2] prefix of the pipeline-runs indexes,
-- KEYS[3] prefix of the runs-by-status indexes, KEYS[4] ended runs
-- ARGV pairs: run id, when it ended (ms; 0 if it had not when read)
-- Returns how many runs it indexed.
local indexed = 0
for i = 1, #ARGV, 2 do
  local runId, endedAt = ARGV[i], tonumber(ARGV[i + 1])
  local run = redis.call('HMGET', KEYS[1] .. runId, 'status', 'sequence', 'pipeline_id')
  if run[1] and run[2] and run[3] then
    redis.call('ZADD', KEYS[2] .. run[3], run[2], runId)
    local ended = run[1] == 'completed' or run[1] == 'failed' or run[1] == 'cancelled'
    if not redis.call('ZSCORE', KEYS[3] .. run[1], runId) then
      redis.call('ZADD', KEYS[3] .. run[1], run[2], runId)
      if ended and endedAt > 0 and not redis.call('ZSCORE', KEYS[4], runId) then
        redis.call('ZADD', KEYS[4], endedAt, runId)
      end
    end
    indexed = indexed + 1
  end
end
return indexed
