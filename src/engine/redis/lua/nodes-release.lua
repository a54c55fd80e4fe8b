-- Releases the nodes whose predecessors are all complete but which are still pending (at a run's
-- start, and after a resume), marking them queued. Nodes already queued are left alone: adding a
-- job whose id exists but has failed would tie the run job to it forever (BullMQ re-links a
-- duplicate into its parent's dependencies), so stranded nodes are handled by the orchestrator.
-- KEYS[1] run hash, KEYS[2] run nodes hash
-- ARGV[1..] node ids to look at
-- Returns {epoch, node id, ...}: the run's epoch, then the released nodes.
--- @include "set-node-status"

local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt')
local released = {run[1]}
if (run[2] or '') ~= '' then return released end
-- One HMGET and one HSET for the batch, the counts moved at once.
local values = readNodeFields(KEYS[2], ARGV, {'status', 'remaining'})
local writes = {}
for i = 1, #ARGV do
  if values[i * 2 - 1] == 'pending' and tonumber(values[i * 2]) == 0 then
    writes[#writes + 1] = ARGV[i] .. ':status'
    writes[#writes + 1] = 'queued'
    released[#released + 1] = ARGV[i]
  end
end
writeNodeFields(KEYS[2], writes, 'pending', 'queued', #released - 1)
return released
