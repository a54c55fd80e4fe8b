-- Moves a queued run to running and records pipeline_started, once.
-- KEYS[1] run hash, KEYS[2] run event stream, KEYS[3] global event stream,
-- KEYS[4] prefix of the runs-by-status indexes, KEYS[5] ended runs
-- ARGV[1] now (ISO), ARGV[2] event JSON, ARGV[3] global stream max length,
-- ARGV[4] run stream max length
-- Returns {status, halt, resetting} after the call: resetting is the epoch whose resume has not
-- put its nodes back to pending yet (run-resume.lua), or ''.
--- @include "append-event"
--- @include "set-run-status"

local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('RUN_NOT_FOUND') end
local halt = redis.call('HGET', KEYS[1], 'halt') or ''
if status == 'queued' and halt == '' then
  setRunStatus(KEYS[1], KEYS[4], KEYS[5], 'running')
  redis.call('HSET', KEYS[1], 'started_at', ARGV[1])
  appendEvent(KEYS[2], KEYS[3], ARGV[2], ARGV[4], ARGV[3])
  status = 'running'
end
return {status, halt, redis.call('HGET', KEYS[1], 'resetting') or ''}
