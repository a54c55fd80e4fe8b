-- Starts one attempt of a node, unless the run is halting or the job is not the node's current one.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run outputs hash,
-- KEYS[4] run event stream, KEYS[5] global event stream
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] now (ISO), ARGV[4] attempt,
-- ARGV[5] node_executing JSON, ARGV[6] global stream max length,
-- ARGV[7] error JSON if the run was cancelled, ARGV[8] error JSON if another node failed,
-- ARGV[9..] predecessors whose outputs feed this node
-- Returns {'run', outputs...} | {'done'} | {'skip'} | {'stale'}
-- A job of an older epoch (from before a resume), or one added for a node that was never released
-- (successors are added in the same round trip as their predecessor's completion, before it is
-- known whether they are released), is stale: it ends without touching the device.
local node = ARGV[1]
local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt')
if run[1] ~= ARGV[2] then return {'stale'} end
local status = redis.call('HGET', KEYS[2], node .. ':status')
if status == 'completed' then return {'done'} end
if status ~= 'queued' and status ~= 'running' then return {'stale'} end
local halt = run[2] or ''
if halt ~= '' then
  local err = ARGV[8]
  if halt == 'cancelled' then err = ARGV[7] end
  redis.call('HSET', KEYS[2], node .. ':status', 'cancelled', node .. ':error', err, node .. ':finished_at', ARGV[3])
  return {'skip'}
end
redis.call('HSET', KEYS[2], node .. ':status', 'running', node .. ':attempts', ARGV[4],
  node .. ':started_at', ARGV[3], node .. ':finished_at', '', node .. ':error', '')
redis.call('XADD', KEYS[4], '*', 'e', ARGV[5])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5])
local result = {'run'}
for i = 9, #ARGV do
  result[#result + 1] = redis.call('HGET', KEYS[3], ARGV[i]) or 'null'
end
return result
