-- Asks a run to pause: from now on no node of it starts; its running commands finish (deferred),
-- or are stopped through their drivers (immediate: the caller tells the workers). The run job
-- makes it paused once nothing of it runs (run-settle.lua). An immediate pause asked while a
-- deferred one is under way makes it immediate; a pause asked again changes nothing more.
-- A held run (run-settle.lua) can be paused too: the pause then comes first, and once resumed the
-- run is held again until its held nodes are recovered.
-- KEYS[1] run hash
-- ARGV[1] 'deferred' | 'immediate'
-- Returns {status, halt, epoch} after the call: halt is 'paused' when the run is paused or pausing;
-- epoch is the one whose queued jobs the caller takes away. A run that has ended, or is stopping for
-- good (cancelled, failed, timed out), is left alone.
local run = redis.call('HMGET', KEYS[1], 'status', 'halt', 'pause_mode', 'epoch')
if not run[1] then return redis.error_reply('RUN_NOT_FOUND') end
local status, halt, epoch = run[1], run[2] or '', tonumber(run[4]) or 0
if status == 'completed' or status == 'failed' or status == 'cancelled' then return {status, halt, epoch} end
if halt == '' or halt == 'held' then
  redis.call('HSET', KEYS[1], 'halt', 'paused', 'pause_mode', ARGV[1])
  return {status, 'paused', epoch}
end
if halt == 'paused' and ARGV[1] == 'immediate' and run[3] ~= 'immediate' and status ~= 'paused' then
  redis.call('HSET', KEYS[1], 'pause_mode', 'immediate')
end
return {status, halt, epoch}
