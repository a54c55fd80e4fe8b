-- Records a node's outputs and releases the successors whose predecessors are now all complete.
-- Idempotent: a node already completed (or of an older generation) changes nothing.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run outputs hash,
-- KEYS[4] run event stream, KEYS[5] global event stream
-- ARGV[1] node id, ARGV[2] generation, ARGV[3] outputs JSON, ARGV[4] now (ISO),
-- ARGV[5] execution time (s), ARGV[6] node_completed JSON, ARGV[7] global stream max length,
-- ARGV[8..] successor ids
-- Returns a flat list {node id, generation, ...} of the released successors, or -1 if nothing was done.
local node = ARGV[1]
local fields = redis.call('HMGET', KEYS[2], node .. ':status', node .. ':gen')
if fields[1] ~= 'running' or fields[2] ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[2], node .. ':status', 'completed', node .. ':finished_at', ARGV[4],
  node .. ':execution_time', ARGV[5], node .. ':error', '')
redis.call('HSET', KEYS[3], node, ARGV[3])
redis.call('XADD', KEYS[4], '*', 'e', ARGV[6])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[6])
local halted = (redis.call('HGET', KEYS[1], 'halt') or '') ~= ''
local released = {}
for i = 8, #ARGV do
  local successor = ARGV[i]
  local remaining = redis.call('HINCRBY', KEYS[2], successor .. ':remaining', -1)
  if remaining == 0 and not halted and redis.call('HGET', KEYS[2], successor .. ':status') == 'pending' then
    redis.call('HSET', KEYS[2], successor .. ':status', 'queued')
    released[#released + 1] = successor
    released[#released + 1] = redis.call('HGET', KEYS[2], successor .. ':gen')
  end
end
return released
