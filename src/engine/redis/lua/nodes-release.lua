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
for i = 1, #ARGV do
  local node = ARGV[i]
  local fields = redis.call('HMGET', KEYS[2], node .. ':status', node .. ':remaining')
  if fields[1] == 'pending' and tonumber(fields[2]) == 0 then
    setNodeStatus(KEYS[2], node, 'queued')
    released[#released + 1] = node
  end
end
return released
