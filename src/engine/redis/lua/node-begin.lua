-- Starts one attempt of a node, unless the run is halting or the node has moved on.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run outputs hash,
-- KEYS[4] run event stream, KEYS[5] global event stream
-- ARGV[1] node id, ARGV[2] generation, ARGV[3] now (ISO), ARGV[4] attempt, ARGV[5] node_executing JSON,
-- ARGV[6] global stream max length, ARGV[7] error JSON if the run was cancelled,
-- ARGV[8] error JSON if another node failed, ARGV[9..] predecessors whose outputs feed this node
-- Returns {'run', outputs...} | {'done'} | {'skip'} | {'stale'}
local node = ARGV[1]
local fields = redis.call('HMGET', KEYS[2], node .. ':status', node .. ':gen')
local status, gen = fields[1], fields[2]
if not status or gen ~= ARGV[2] then return {'stale'} end
if status == 'completed' then return {'done'} end
if status == 'failed' or status == 'cancelled' then return {'stale'} end
local halt = redis.call('HGET', KEYS[1], 'halt') or ''
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
