-- Asks a run to stop: nodes not yet started will not start. The run ends cancelled once its
-- running nodes have stopped.
-- KEYS[1] run hash
-- Returns the run's status; a run that has already ended is left alone.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('RUN_NOT_FOUND') end
if status == 'completed' or status == 'failed' or status == 'cancelled' then return status end
redis.call('HSET', KEYS[1], 'halt', 'cancelled')
return status
