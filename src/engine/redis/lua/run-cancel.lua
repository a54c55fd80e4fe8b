-- Asks a run to stop: nodes not yet started will not start. The run ends cancelled (or, on its
-- timeout, failed) once its running nodes have stopped.
-- KEYS[1] run hash
-- ARGV[1] 'cancelled' | 'timeout'
-- Returns the run's status; a run that has ended is left alone, and a timeout does not replace a
-- halt already under way (a failure, a cancel).
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('RUN_NOT_FOUND') end
if status == 'completed' or status == 'failed' or status == 'cancelled' then return status end
if ARGV[1] == 'timeout' and (redis.call('HGET', KEYS[1], 'halt') or '') ~= '' then return status end
redis.call('HSET', KEYS[1], 'halt', ARGV[1])
return status
