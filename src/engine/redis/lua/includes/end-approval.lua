-- Ends a waiting approval as failed or held (a person's rejection, or its timeout), and halts its
-- run as a node's failure or hold does: failed halts it for good (naming the node), held makes it
-- hold for a person. Only called while the run goes on (its halt empty). Uses set-node-status and
-- waiting-runs, which the including script also includes.
local function endApproval(runHash, nodesKey, statusIndexPrefix, node, outcome, errorJson, now, seconds)
  setNodeStatus(nodesKey, node, outcome, node .. ':error', errorJson, node .. ':finished_at', now,
    node .. ':execution_time', seconds, node .. ':deadline', '')
  if outcome == 'held' then
    redis.call('HSET', nodesKey, node .. ':held_at', now)
    redis.call('HSET', runHash, 'halt', 'held')
  else
    redis.call('HSET', runHash, 'halt', 'failed', 'halt_node', node)
  end
  syncWaitingRuns(runHash, nodesKey, statusIndexPrefix)
end
