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
local nodes = {unpack(ARGV, 6)}
local statuses = readNodeFields(KEYS[2], nodes, {'status'})
local cleared = {':attempts', 0, ':error', '', ':started_at', '', ':finished_at', '', ':execution_time', ''}
local writes = {}
local moved = {failed = 0, cancelled = 0}
for i, node in ipairs(nodes) do
  local before = statuses[i]
  if before == 'failed' or before == 'cancelled' then
    writes[#writes + 1] = node .. ':status'
    writes[#writes + 1] = 'pending'
    for j = 1, #cleared, 2 do
      writes[#writes + 1] = node .. cleared[j]
      writes[#writes + 1] = cleared[j + 1]
    end
    moved[before] = moved[before] + 1
  end
end
-- Both kinds go back to pending in the one HSET; each kind's count moves by its own number.
writeNodeFields(KEYS[2], writes, 'failed', 'pending', moved.failed)
if #writes > 0 then countMoved(KEYS[2], 'cancelled', 'pending', moved.cancelled) end
return moved.failed + moved.cancelled
