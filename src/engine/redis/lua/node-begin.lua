-- Starts one attempt of a node, unless the run is halting or resting (paused, held), the job is not
-- the node's current one, or another run has reserved the device.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run outputs hash,
-- KEYS[4] run event stream, KEYS[5] global event stream,
-- KEYS[6] device reservations hash (device -> run), KEYS[7] this run's reservations (device -> nodes
-- left there), KEYS[8] set of jobs waiting for a reservation to end, KEYS[9] the device's lease
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] now (ISO), ARGV[4] attempt,
-- ARGV[5] node_executing JSON, ARGV[6] global stream max length,
-- ARGV[7] error JSON if the run was cancelled, ARGV[8] error JSON if another node failed,
-- ARGV[9] error JSON if the run timed out,
-- ARGV[10] the node's device, ARGV[11] this job as a waiter ("<device>|<job id>"),
-- ARGV[12] '1' if the node's function is idempotent,
-- ARGV[13] run stream max length, ARGV[14] the worker's fencing token for the device,
-- ARGV[15] n, ARGV[16..15+n] predecessors whose outputs feed this node,
-- then, for a run that reserves its devices: per device, its id, k, and its k node ids
-- Returns {'run', outputs...} | {'done', where its release stands (node-release.lua)} | {'skip'} | {'stale'} | {'wait', device, holder run}
--   | {'fenced'}: the worker no longer holds the device (another took its lease over)
--   | {'rest'}: the run is paused or held: the node stays queued (a non-idempotent one found
--     interrupted is held), its job ends without running, and a resume gives it a new epoch's job
--   | {'interrupted'}: an attempt of this non-idempotent node began and never ended (its worker
--   died); it must not be repeated by itself.
-- A job of an older epoch (from before a resume) is stale: it ends without touching the device.
--- @include "fence-holds"
--- @include "append-event"
--- @include "set-node-status"

if not fenceHolds(KEYS[9], ARGV[14]) then return {'fenced'} end
local node = ARGV[1]
local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt', 'run_id')
if run[1] ~= ARGV[2] then return {'stale'} end
local status = redis.call('HGET', KEYS[2], node .. ':status')
if status == 'completed' then return {'done', redis.call('HGET', KEYS[2], node .. ':release_next') or '0'} end
if status ~= 'queued' and status ~= 'running' then return {'stale'} end
local halt = run[2] or ''
local resting = halt == 'paused' or halt == 'held'
if halt ~= '' and not resting then
  local err = ARGV[8]
  if halt == 'cancelled' then err = ARGV[7] end
  if halt == 'timeout' then err = ARGV[9] end
  setNodeStatus(KEYS[2], node, 'cancelled', node .. ':error', err, node .. ':finished_at', ARGV[3])
  return {'skip'}
end

local runId = run[3]
-- This very begin again (same arguments, so the same started_at): ioredis resends a command whose
-- reply a dropped connection lost, e.g. when Redis restarts. Answer as the first time did.
local resent = status == 'running' and redis.call('HGET', KEYS[2], node .. ':started_at') == ARGV[3]
if status == 'running' and not resent and ARGV[12] ~= '1' then
  if not resting then return {'interrupted'} end
  -- Its worker died mid-command while the run was pausing (an immediate pause's stop may never
  -- have been recorded): held, as the pause would have held it, for a person to recover.
  local err = {code = 'NODE_INTERRUPTED', message = ARGV[10] .. ': this command was interrupted ' ..
    '(its worker stopped mid-command) while the run was pausing or holding; it is not idempotent, so it is ' ..
    'held: check the device, then recover the node'}
  local executing = cjson.decode(ARGV[5])
  setNodeStatus(KEYS[2], node, 'held', node .. ':error', cjson.encode(err), node .. ':finished_at', ARGV[3],
    node .. ':held_at', ARGV[3])
  appendEvent(KEYS[4], KEYS[5], cjson.encode({type = 'node_held', node_id = node, error_message = err.message,
    error_type = err.code, run_id = executing.run_id, pipeline_id = executing.pipeline_id,
    timestamp = executing.timestamp}), ARGV[13], ARGV[6])
  return {'rest'}
end
if resting and not resent then
  -- An idempotent node found running (its worker died mid-command) is queued again: it runs
  -- from the start once the run goes on.
  if status == 'running' then setNodeStatus(KEYS[2], node, 'queued') end
  return {'rest'}
end

local spec = 16 + tonumber(ARGV[15])
if spec <= #ARGV and redis.call('EXISTS', KEYS[7]) == 0 then
  -- A reserving run's first node (in this epoch) takes every device the run has nodes left on, all
  -- at once or none: two runs taking devices one at a time, in different orders, could deadlock.
  local wanted = {}
  local i = spec
  while i <= #ARGV do
    local device, count, left = ARGV[i], tonumber(ARGV[i + 1]), 0
    for j = i + 2, i + 1 + count do
      local done = redis.call('HGET', KEYS[2], ARGV[j] .. ':status')
      if done ~= 'completed' and done ~= 'skipped' then left = left + 1 end
    end
    if left > 0 then
      local holder = redis.call('HGET', KEYS[6], device)
      if holder and holder ~= runId then
        redis.call('SADD', KEYS[8], ARGV[11])
        return {'wait', device, holder}
      end
      wanted[#wanted + 1] = device
      wanted[#wanted + 1] = left
    end
    i = i + 2 + count
  end
  for w = 1, #wanted, 2 do
    redis.call('HSET', KEYS[6], wanted[w], runId)
    redis.call('HSET', KEYS[7], wanted[w], wanted[w + 1])
  end
end
local holder = redis.call('HGET', KEYS[6], ARGV[10])
if holder and holder ~= runId then
  redis.call('SADD', KEYS[8], ARGV[11])
  return {'wait', ARGV[10], holder}
end

if not resent then
  setNodeStatus(KEYS[2], node, 'running', node .. ':attempts', ARGV[4],
    node .. ':started_at', ARGV[3], node .. ':finished_at', '', node .. ':error', '')
  appendEvent(KEYS[4], KEYS[5], ARGV[5], ARGV[13], ARGV[6])
end
local result = {'run'}
for i = 16, spec - 1 do
  result[#result + 1] = redis.call('HGET', KEYS[3], ARGV[i]) or 'null'
end
return result
