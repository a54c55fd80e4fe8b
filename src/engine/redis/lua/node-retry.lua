-- Records a failed attempt that will be tried again after a delay.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] error JSON, ARGV[4] node_retrying JSON,
-- ARGV[5] global stream max length, ARGV[6] run stream max length
-- The event is added to the run stream first; the global entry carries that entry's id as 'id'.
-- Returns 1, or -1 if the job is not the node's current one.
local node = ARGV[1]
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] or redis.call('HGET', KEYS[2], node .. ':status') ~= 'running' then
  return -1
end
redis.call('HSET', KEYS[2], node .. ':status', 'queued', node .. ':error', ARGV[3])
local eventId = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[4])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[4], 'id', eventId)
return 1
