-- Ends queued nodes of a cancelled run whose jobs were taken out of their queues (they never
-- reached a device). A node no longer queued (it began meanwhile) is left alone.
-- KEYS[1] run hash, KEYS[2] run nodes hash
-- ARGV[1] the epoch the jobs belonged to, ARGV[2] error JSON, ARGV[3] now (ISO), ARGV[4..] node ids
-- Returns how many nodes were ended.
--- @include "set-node-status"

if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local ended = 0
for i = 4, #ARGV do
  local node = ARGV[i]
  if redis.call('HGET', KEYS[2], node .. ':status') == 'queued' then
    setNodeStatus(KEYS[2], node, 'cancelled', node .. ':error', ARGV[2], node .. ':finished_at', ARGV[3])
    ended = ended + 1
  end
end
return ended
