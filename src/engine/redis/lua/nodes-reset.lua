-- Puts a failed or cancelled run's failed and cancelled nodes back to pending, ahead of its resume
-- (run-resume.lua, sent right after the last batch): one batch of nodes a call, one HMGET and one
-- HSET, so that resuming a 10,000-node run never holds Redis for long (one script over every node
-- took 170 ms). Nothing changes unless the run is failed or cancelled: a run resumed meanwhile, or
-- removed, is left alone.
-- KEYS[1] run hash, KEYS[2] run nodes hash
-- ARGV[1..] node ids
-- Returns how many nodes went back to pending.
--- @include "set-node-status"

local status = redis.call('HGET', KEYS[1], 'status')
if (status ~= 'failed' and status ~= 'cancelled') or #ARGV == 0 then return 0 end
local fields = {}
for i = 1, #ARGV do fields[i] = ARGV[i] .. ':status' end
local statuses = redis.call('HMGET', KEYS[2], unpack(fields))
local cleared = {':attempts', 0, ':error', '', ':started_at', '', ':finished_at', '', ':execution_time', ''}
local writes = {}
local moved = {failed = 0, cancelled = 0}
for i = 1, #ARGV do
  local before = statuses[i]
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
