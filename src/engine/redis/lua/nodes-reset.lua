-- Finishes a resume (run-resume.lua): puts nodes back to pending, so that the run job releases them
-- in the new epoch: after a retry its failed, cancelled and held nodes; after an unpause, or a
-- held node's recovery, its queued ones, whose jobs ended without running (held nodes then wait
-- for their own recovery).
-- One batch of nodes a call (one HMGET and one HSET), then, in a last call once every batch has
-- run, marks the reset done and appends pipeline_resumed. Nothing changes unless the run is being
-- reset for this epoch: a reset finished already, by its caller or by the run job, or a run
-- removed meanwhile, is left alone, so a batch sent again changes nothing more.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream
-- ARGV[1] the epoch being reset, ARGV[2] 'nodes' | 'done', ARGV[3] pipeline_resumed JSON of a retry
-- ('done'), ARGV[4] global stream max length, ARGV[5] run stream max length, ARGV[6..] node ids
-- ('nodes'); 'done' only: ARGV[6] pipeline_resumed JSON of an unpause, ARGV[7] of a recovery
-- Returns how many nodes went back to pending ('nodes'), or 1 if it marked the reset done.
--- @include "append-event"
--- @include "set-node-status"

local run = redis.call('HMGET', KEYS[1], 'epoch', 'resetting', 'resumed_from')
if run[1] ~= ARGV[1] or run[2] ~= ARGV[1] then return 0 end
-- Resumed from resting (paused, or held and a node recovered) rather than from an end.
local rested = run[3] == 'paused' or run[3] == 'held'
if ARGV[2] == 'done' then
  redis.call('HDEL', KEYS[1], 'resetting')
  local event = ARGV[3]
  if run[3] == 'paused' then event = ARGV[6] elseif run[3] == 'held' then event = ARGV[7] end
  appendEvent(KEYS[3], KEYS[4], event, ARGV[5], ARGV[4])
  return 1
end
local nodes = {unpack(ARGV, 6)}
local statuses = readNodeFields(KEYS[2], nodes, {'status'})
local cleared = {':attempts', 0, ':error', '', ':started_at', '', ':finished_at', '', ':execution_time', ''}
local writes = {}
local moved = {failed = 0, cancelled = 0, held = 0, queued = 0}
for i, node in ipairs(nodes) do
  local before = statuses[i]
  local back = before == 'queued'
  if not rested then back = before == 'failed' or before == 'cancelled' or before == 'held' end
  if back then
    writes[#writes + 1] = node .. ':status'
    writes[#writes + 1] = 'pending'
    for j = 1, #cleared, 2 do
      writes[#writes + 1] = node .. cleared[j]
      writes[#writes + 1] = cleared[j + 1]
    end
    moved[before] = moved[before] + 1
  end
end
-- Every kind goes back to pending in the one HSET; each kind's count moves by its own number.
writeNodeFields(KEYS[2], writes, 'failed', 'pending', moved.failed)
if #writes > 0 then
  countMoved(KEYS[2], 'cancelled', 'pending', moved.cancelled)
  countMoved(KEYS[2], 'held', 'pending', moved.held)
  countMoved(KEYS[2], 'queued', 'pending', moved.queued)
end
return moved.failed + moved.cancelled + moved.held + moved.queued
