-- Moves a queued run to running and records pipeline_started, once.
-- KEYS[1] run hash, KEYS[2] run event stream, KEYS[3] global event stream
-- ARGV[1] now (ISO), ARGV[2] event JSON, ARGV[3] global stream max length,
-- ARGV[4] run stream max length
-- The event is added to the run stream first; the global entry carries that entry's id as 'id'.
-- Returns {status, halt} after the call.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('RUN_NOT_FOUND') end
local halt = redis.call('HGET', KEYS[1], 'halt') or ''
if status == 'queued' and halt == '' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1])
  local eventId = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'e', ARGV[2])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[2], 'id', eventId)
  status = 'running'
end
return {status, halt}
