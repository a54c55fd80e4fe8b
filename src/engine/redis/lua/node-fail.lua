-- Ends a node as failed or cancelled, or holds it for a person to decide (held). A failure halts the
-- run: nodes not yet started will not start, even in a run that was pausing or held. A held node
-- makes its run hold (unless it is pausing): no node starts until a person recovers it.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream,
-- KEYS[5] the device's lease, KEYS[6] prefix of the runs-by-status indexes (an approval past its
-- deadline fails from waiting)
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] 'failed' | 'cancelled' | 'held', ARGV[4] error JSON,
-- ARGV[5] now (ISO), ARGV[6] execution time (s), ARGV[7] event JSON or '', ARGV[8] global max length,
-- ARGV[9] run stream max length, ARGV[10] the worker's fencing token ('' for the orchestrator)
-- Returns 2 if this failure halted the run, 1 if it ended the node only, -1 if the job is not the
-- node's current one or the node has already ended, -2 if the worker no longer holds the device.
--- @include "fence-holds"
--- @include "append-event"
--- @include "set-node-status"
--- @include "waiting-runs"

local node = ARGV[1]
local status = redis.call('HGET', KEYS[2], node .. ':status')
local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt', 'halt_node')
if run[1] ~= ARGV[2] then return -1 end
-- Run again (ioredis resent it, or the worker crashed before ending the nodes not begun): this
-- node's failure halted the run, so answer as the first time did.
if status == 'failed' and ARGV[3] == 'failed' and run[2] == 'failed' and run[3] == node then return 2 end
if status ~= 'queued' and status ~= 'running' and status ~= 'waiting' then return -1 end
if not fenceHolds(KEYS[5], ARGV[10]) then return -2 end
setNodeStatus(KEYS[2], node, ARGV[3], node .. ':error', ARGV[4],
  node .. ':finished_at', ARGV[5], node .. ':execution_time', ARGV[6])
if status == 'waiting' then syncWaitingRuns(KEYS[1], KEYS[2], KEYS[6]) end
local halted = 1
local halt = redis.call('HGET', KEYS[1], 'halt') or ''
if ARGV[3] == 'held' then
  -- Names this hold: a person's decision on it is told apart from one on a later hold.
  redis.call('HSET', KEYS[2], node .. ':held_at', ARGV[5])
  if halt == '' then redis.call('HSET', KEYS[1], 'halt', 'held') end
end
if ARGV[3] == 'failed' and (halt == '' or halt == 'paused' or halt == 'held') then
  redis.call('HSET', KEYS[1], 'halt', 'failed', 'halt_node', node)
  halted = 2
end
if ARGV[7] ~= '' then appendEvent(KEYS[3], KEYS[4], ARGV[7], ARGV[9], ARGV[8]) end
return halted
