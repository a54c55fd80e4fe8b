-- Records a failed attempt that will be tried again after a delay.
-- KEYS[1] run nodes hash, KEYS[2] run event stream, KEYS[3] global event stream
-- ARGV[1] node id, ARGV[2] generation, ARGV[3] error JSON, ARGV[4] node_retrying JSON,
-- ARGV[5] global stream max length
-- Returns 1, or -1 if the node had moved on.
local node = ARGV[1]
local fields = redis.call('HMGET', KEYS[1], node .. ':status', node .. ':gen')
if fields[1] ~= 'running' or fields[2] ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], node .. ':status', 'queued', node .. ':error', ARGV[3])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[4])
return 1
