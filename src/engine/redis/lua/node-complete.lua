-- Records a node's outputs and releases the successors whose predecessors are now all complete.
-- Idempotent: a node already completed (or a job of an older epoch) changes nothing. The last node
-- of a reserving run on a device ends the run's reservation of that device.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run outputs hash,
-- KEYS[4] run event stream, KEYS[5] global event stream,
-- KEYS[6] device reservations hash (device -> run), KEYS[7] this run's reservations (device -> nodes
-- left there), KEYS[8] set of jobs waiting for a reservation to end
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] outputs JSON, ARGV[4] now (ISO),
-- ARGV[5] execution time (s), ARGV[6] node_completed JSON, ARGV[7] global stream max length,
-- ARGV[8] the node's device, ARGV[9] run stream max length, ARGV[10..] successor ids
-- The event is added to the run stream first; the global entry carries that entry's id as 'id'.
-- Returns {released successor ids, waiting jobs to wake}, or -1 if nothing was done.
local node = ARGV[1]
local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt', 'run_id')
if run[1] ~= ARGV[2] or redis.call('HGET', KEYS[2], node .. ':status') ~= 'running' then return -1 end
redis.call('HSET', KEYS[2], node .. ':status', 'completed', node .. ':finished_at', ARGV[4],
  node .. ':execution_time', ARGV[5], node .. ':error', '')
redis.call('HSET', KEYS[3], node, ARGV[3])
local eventId = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*', 'e', ARGV[6])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[6], 'id', eventId)
local halted = (run[2] or '') ~= ''
local released = {}
for i = 10, #ARGV do
  local successor = ARGV[i]
  local remaining = redis.call('HINCRBY', KEYS[2], successor .. ':remaining', -1)
  if remaining == 0 and not halted and redis.call('HGET', KEYS[2], successor .. ':status') == 'pending' then
    redis.call('HSET', KEYS[2], successor .. ':status', 'queued')
    released[#released + 1] = successor
  end
end
local woken = {}
local device = ARGV[8]
if redis.call('HEXISTS', KEYS[7], device) == 1 and redis.call('HINCRBY', KEYS[7], device, -1) <= 0 then
  redis.call('HDEL', KEYS[7], device)
  if redis.call('HGET', KEYS[6], device) == run[3] then redis.call('HDEL', KEYS[6], device) end
  woken = redis.call('SMEMBERS', KEYS[8])
  redis.call('DEL', KEYS[8])
end
return {released, woken}
