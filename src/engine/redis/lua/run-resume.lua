-- Resumes a failed or cancelled run in a new epoch; every job of the old epoch is now stale, so new
-- jobs get new ids. Its failed and cancelled nodes went back to pending just before, by batches
-- (nodes-reset.lua, sent together with this); completed nodes keep their outputs. A run whose counts
-- still show failed or cancelled nodes (a batch was refused) is not resumed: NODES_NOT_RESET, and
-- the caller sends the batches again.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream,
-- KEYS[5] active runs set, KEYS[6] prefix of the runs-by-status indexes, KEYS[7] ended runs
-- ARGV[1] pipeline_resumed JSON, ARGV[2] global stream max length, ARGV[3] run stream max length
-- The run stream's expiry (set by run-finish.lua) is removed: it must not vanish mid-run.
-- Returns {status before, status after}; nothing changes unless it was failed or cancelled. A run
-- cancelled before it started goes back to queued, so that it starts (pipeline_started) as usual.
--- @include "append-event"
--- @include "set-run-status"

local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('RUN_NOT_FOUND') end
if status ~= 'failed' and status ~= 'cancelled' then return {status, status} end
if redis.call('HEXISTS', KEYS[2], '#counted') == 1 then
  local left = redis.call('HMGET', KEYS[2], '#failed', '#cancelled')
  if (tonumber(left[1]) or 0) + (tonumber(left[2]) or 0) > 0 then return redis.error_reply('NODES_NOT_RESET') end
end
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('SADD', KEYS[5], redis.call('HGET', KEYS[1], 'run_id'))
local after = 'running'
if (redis.call('HGET', KEYS[1], 'started_at') or '') == '' then after = 'queued' end
setRunStatus(KEYS[1], KEYS[6], KEYS[7], after)
redis.call('HSET', KEYS[1], 'halt', '', 'halt_node', '', 'error', '', 'finished_at', '')
appendEvent(KEYS[3], KEYS[4], ARGV[1], ARGV[3], ARGV[2])
redis.call('PERSIST', KEYS[3])
return {status, after}
