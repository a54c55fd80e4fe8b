-- Finishes a resume (run-resume.lua): puts the run's failed and cancelled nodes back to pending,
-- one batch of nodes a call (one HMGET and one HSET), then, in a last call once every batch has
-- run, marks the reset done and appends pipeline_resumed. Nothing changes unless the run is being
-- reset for this epoch: a reset finished already, by its caller or by the run job, or a run
-- removed meanwhile, is left alone, so a batch sent again changes nothing more.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream
-- ARGV[1] the epoch being reset, ARGV[2] 'nodes' | 'done', ARGV[3] pipeline_resumed JSON ('done'),
-- ARGV[4] global stream max length, ARGV[5] run stream max length, ARGV[6..] node ids ('nodes')
-- Returns how many nodes went back to pending ('nodes'), or 1 if it marked the reset done.
--- @include "append-event"
--- @include "set-node-status"

local run = redis.call('HMGET', KEYS[1], 'epoch', 'resetting')
if run[1] ~= ARGV[1] or run[2] ~= ARGV[1] then return 0 end
if ARGV[2] == 'done' then
  redis.call('HDEL', KEYS[1], 'resetting')
  appendEvent(KEYS[3], KEYS[4], ARGV[3], ARGV[5], ARGV[4])
  return 1
end
if #ARGV < 6 then return 0 end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] .. ':status' end
local statuses = redis.call('HMGET', KEYS[2], unpack(fields))
local cleared = {':attempts', 0, ':error', '', ':started_at', '', ':finished_at', '', ':execution_time', ''}
local writes = {}
local moved = {failed = 0, cancelled = 0}
for i = 6, #ARGV do
  local before = statuses[i - 5]
  if before == 'failed' or before == 'cancelled' then
    local node = ARGV[i]
    writes[#writes + 1] = node .. ':status'
    writes[#writes + 1] = 'pending'
    for j = 1, #cleared, 2 do
      writes[#writes + 1] = node .. cleared[j]
      writes[#writes + 1] = cleared[j + 1]
    end
    moved[before] = moved[before] + 1
  end
end
if #writes == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(writes))
countMoved(KEYS[2], 'failed', 'pending', moved.failed)
countMoved(KEYS[2], 'cancelled', 'pending', moved.cancelled)
return moved.failed + moved.cancelled
