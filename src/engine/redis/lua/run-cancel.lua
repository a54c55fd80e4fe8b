-- Asks a run to stop: nodes not yet started will not start. The run ends cancelled (or, on its
-- timeout, failed) once its running nodes have stopped.
-- KEYS[1] run hash
-- ARGV[1] 'cancelled' | 'timeout'
-- Returns the run's status; a run that has ended is left alone. A run already failing (a node
-- failed, or it timed out) keeps its failure: it answers 'failed'. A timeout does not replace a
-- cancel under way: it answers 'cancelled'.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return redis.error_reply('RUN_NOT_FOUND') end
if status == 'completed' or status == 'failed' or status == 'cancelled' then return status end
local halt = redis.call('HGET', KEYS[1], 'halt') or ''
-- The same halt again (a resend, a retried timeout job): the caller goes on stopping the run.
if halt == ARGV[1] then return status end
if halt == 'failed' or halt == 'timeout' then return 'failed' end
if halt == 'cancelled' and ARGV[1] == 'timeout' then return 'cancelled' end
redis.call('HSET', KEYS[1], 'halt', ARGV[1])
return status
