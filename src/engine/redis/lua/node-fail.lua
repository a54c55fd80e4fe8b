-- Ends a node as failed or cancelled. A failure halts the run: nodes not yet started will not start.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] 'failed' | 'cancelled', ARGV[4] error JSON,
-- ARGV[5] now (ISO), ARGV[6] execution time (s), ARGV[7] event JSON or '', ARGV[8] global max length,
-- ARGV[9] run stream max length
-- The event is added to the run stream first; the global entry carries that entry's id as 'id'.
-- Returns 1, or -1 if the job is not the node's current one or the node has already ended.
local node = ARGV[1]
local status = redis.call('HGET', KEYS[2], node .. ':status')
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] or (status ~= 'queued' and status ~= 'running') then
  return -1
end
redis.call('HSET', KEYS[2], node .. ':status', ARGV[3], node .. ':error', ARGV[4],
  node .. ':finished_at', ARGV[5], node .. ':execution_time', ARGV[6])
if ARGV[3] == 'failed' and (redis.call('HGET', KEYS[1], 'halt') or '') == '' then
  redis.call('HSET', KEYS[1], 'halt', 'failed', 'halt_node', node)
end
if ARGV[7] ~= '' then
  local eventId = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[9], '*', 'e', ARGV[7])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'e', ARGV[7], 'id', eventId)
end
return 1
