-- An approval node's job has come up (approval-processor.ts): a queued approval starts waiting for
-- a person (event node_waiting), a waiting one goes on waiting until its deadline, and past it fails
-- APPROVAL_TIMEOUT (or is held), here, in the same step that finds it waiting, so that no decision
-- can fall between the look and the failure. Its run's halt decides first: a resting run (paused,
-- held) puts a waiting approval back to queued (it waits afresh when the run goes on); a stopping
-- one (cancelled, timed out, failed) ends it cancelled.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream,
-- KEYS[5] prefix of the runs-by-status indexes
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] now (ISO), ARGV[4] now (ms), ARGV[5] its
-- deadline (ms) if it begins waiting now ('' for none), ARGV[6] node_waiting JSON,
-- ARGV[7] global stream max length, ARGV[8] run stream max length, ARGV[9] error JSON if the run was
-- cancelled, ARGV[10] error JSON if another node failed, ARGV[11] error JSON if the run timed out,
-- ARGV[12] what its timeout makes it, 'failed' | 'held', ARGV[13] the timeout's error JSON,
-- ARGV[14] the timeout's event JSON (node_failed or node_held), ARGV[15] the time it waited (s)
-- Returns {'wait', deadline ('' for none)} | {'done', released successors still queued, as JSON}
-- (a person approved it: the caller adds their jobs) | {'ended', 'failed' | 'held'} (it timed out
-- now, or a rejection or timeout ended it before: the caller does, or does again, what follows a
-- failure or a hold) | {'rest'} | {'skip'} | {'stale'} (an older epoch's job, or ended otherwise).
--- @include "append-event"
--- @include "set-node-status"
--- @include "waiting-runs"
--- @include "end-approval"

local node = ARGV[1]
local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt', 'halt_node')
if run[1] ~= ARGV[2] then return {'stale'} end
local fields = redis.call('HMGET', KEYS[2], node .. ':status', node .. ':deadline', node .. ':released')
local status = fields[1] or 'pending'
local halt = run[2] or ''
if status == 'completed' then
  -- Only those still queued: one that has begun since has its job (and one that failed since
  -- would be linked to the run job again by a second add).
  local still = {}
  for _, successor in ipairs(cjson.decode(fields[3] or '[]')) do
    if redis.call('HGET', KEYS[2], successor .. ':status') == 'queued' then still[#still + 1] = successor end
  end
  if #still == 0 then return {'done', '[]'} end
  return {'done', cjson.encode(still)}
end
-- Ended by its rejection or its timeout, whose follow-up (ending the nodes not begun, or taking
-- the queued nodes' jobs away) its caller may have died before finishing.
if status == 'failed' and halt == 'failed' and run[3] == node then return {'ended', 'failed'} end
if status == 'held' and halt == 'held' then return {'ended', 'held'} end
if status ~= 'queued' and status ~= 'waiting' then return {'stale'} end
if halt == 'paused' or halt == 'held' then
  if status == 'waiting' then
    setNodeStatus(KEYS[2], node, 'queued', node .. ':deadline', '')
    syncWaitingRuns(KEYS[1], KEYS[2], KEYS[5])
  end
  return {'rest'}
end
if halt ~= '' then
  local err = ARGV[10]
  if halt == 'cancelled' then err = ARGV[9] end
  if halt == 'timeout' then err = ARGV[11] end
  setNodeStatus(KEYS[2], node, 'cancelled', node .. ':error', err, node .. ':finished_at', ARGV[3],
    node .. ':deadline', '')
  if status == 'waiting' then syncWaitingRuns(KEYS[1], KEYS[2], KEYS[5]) end
  return {'skip'}
end
if status == 'waiting' then
  local deadline = tonumber(fields[2])
  if not deadline or deadline > tonumber(ARGV[4]) then return {'wait', fields[2] or ''} end
  local outcome = ARGV[12]
  endApproval(KEYS[1], KEYS[2], KEYS[5], node, outcome, ARGV[13], ARGV[3], ARGV[15])
  appendEvent(KEYS[3], KEYS[4], ARGV[14], ARGV[8], ARGV[7])
  return {'ended', outcome}
end
setNodeStatus(KEYS[2], node, 'waiting', node .. ':attempts', 1, node .. ':started_at', ARGV[3],
  node .. ':waiting_since', ARGV[4], node .. ':deadline', ARGV[5], node .. ':finished_at', '',
  node .. ':error', '')
syncWaitingRuns(KEYS[1], KEYS[2], KEYS[5])
appendEvent(KEYS[3], KEYS[4], ARGV[6], ARGV[8], ARGV[7])
return {'wait', ARGV[5]}
