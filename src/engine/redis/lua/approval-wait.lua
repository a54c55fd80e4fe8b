-- An approval node's job has come up (approval-processor.ts): a queued approval starts waiting for
-- a person (event node_waiting), a waiting one goes on waiting until its deadline. Its run's halt
-- decides first: a resting run (paused, held) puts a waiting approval back to queued (it waits
-- afresh when the run goes on); a stopping one (cancelled, timed out, failed) ends it cancelled.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream,
-- KEYS[5] prefix of the runs-by-status indexes
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] now (ISO), ARGV[4] now (ms), ARGV[5] its
-- deadline (ms) if it begins waiting now ('' for none), ARGV[6] node_waiting JSON,
-- ARGV[7] global stream max length, ARGV[8] run stream max length, ARGV[9] error JSON if the run was
-- cancelled, ARGV[10] error JSON if another node failed, ARGV[11] error JSON if the run timed out
-- Returns {'wait', deadline ('' for none)} | {'done', released successors JSON} (a person approved
-- it: the caller adds their jobs) | {'rest'} | {'skip'} | {'stale'} (an older epoch's job, or the
-- node has ended otherwise).
--- @include "append-event"
--- @include "set-node-status"
--- @include "waiting-runs"

local node = ARGV[1]
local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt')
if run[1] ~= ARGV[2] then return {'stale'} end
local fields = redis.call('HMGET', KEYS[2], node .. ':status', node .. ':deadline', node .. ':released')
local status = fields[1] or 'pending'
if status == 'completed' then return {'done', fields[3] or '[]'} end
if status ~= 'queued' and status ~= 'waiting' then return {'stale'} end
local halt = run[2] or ''
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
  setNodeStatus(KEYS[2], node, 'cancelled', node .. ':error', err, node .. ':finished_at', ARGV[3])
  if status == 'waiting' then syncWaitingRuns(KEYS[1], KEYS[2], KEYS[5]) end
  return {'skip'}
end
if status == 'waiting' then return {'wait', fields[2] or ''} end
setNodeStatus(KEYS[2], node, 'waiting', node .. ':attempts', 1, node .. ':started_at', ARGV[3],
  node .. ':waiting_since', ARGV[4], node .. ':deadline', ARGV[5], node .. ':finished_at', '',
  node .. ':error', '', node .. ':decision', '')
syncWaitingRuns(KEYS[1], KEYS[2], KEYS[5])
appendEvent(KEYS[3], KEYS[4], ARGV[6], ARGV[8], ARGV[7])
return {'wait', ARGV[5]}
