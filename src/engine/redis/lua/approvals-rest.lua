-- A run coming to rest (paused, or held) puts its waiting approvals back to queued, before their
-- delayed jobs are taken away: nothing of a resting run waits, and each waits afresh (a new
-- node_waiting, a new deadline) once the run goes on. A node no longer waiting is left alone.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] prefix of the runs-by-status indexes
-- ARGV[1] the epoch the jobs belong to, ARGV[2..] node ids
-- Returns how many were put back.
--- @include "set-node-status"
--- @include "waiting-runs"

local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt')
if run[1] ~= ARGV[1] or (run[2] ~= 'paused' and run[2] ~= 'held') then return 0 end
local back = 0
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i] .. ':status') == 'waiting' then
    setNodeStatus(KEYS[2], ARGV[i], 'queued', ARGV[i] .. ':deadline', '')
    back = back + 1
  end
end
if back > 0 then syncWaitingRuns(KEYS[1], KEYS[2], KEYS[3]) end
return back
