-- The reconciler's step: finds nodes whose predecessors are all complete but which have no job yet
-- (a crash between a node's completion and its successors' enqueue), and marks them queued.
-- Nodes already queued are returned too: adding their job again is a no-op by job id.
-- KEYS[1] run hash, KEYS[2] run nodes hash
-- ARGV[1..] node ids to look at
-- Returns {epoch, node id, ...}: the run's epoch, then the released nodes.
local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt')
local released = {run[1]}
if (run[2] or '') ~= '' then return released end
for i = 1, #ARGV do
  local node = ARGV[i]
  local fields = redis.call('HMGET', KEYS[2], node .. ':status', node .. ':remaining')
  if (fields[1] == 'pending' or fields[1] == 'queued') and tonumber(fields[2]) == 0 then
    redis.call('HSET', KEYS[2], node .. ':status', 'queued')
    released[#released + 1] = node
  end
end
return released
