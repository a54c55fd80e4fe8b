-- Ends queued nodes of a cancelled run whose jobs were taken out of their queues (they never
-- reached a device). A node no longer queued (it began meanwhile) is left alone. One HMGET and one
-- HSET for the batch, the counts moved at once: a batch of 250 nodes done node by node took 6-26 ms.
-- KEYS[1] run hash, KEYS[2] run nodes hash
-- ARGV[1] the epoch the jobs belonged to, ARGV[2] error JSON, ARGV[3] now (ISO), ARGV[4..] node ids
-- Returns how many nodes were ended.
--- @include "set-node-status"

if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local nodes = {unpack(ARGV, 4)}
local statuses = readNodeFields(KEYS[2], nodes, {'status'})
local writes = {}
local ended = 0
for i, node in ipairs(nodes) do
  if statuses[i] == 'queued' then
    writes[#writes + 1] = node .. ':status'
    writes[#writes + 1] = 'cancelled'
    writes[#writes + 1] = node .. ':error'
    writes[#writes + 1] = ARGV[2]
    writes[#writes + 1] = node .. ':finished_at'
    writes[#writes + 1] = ARGV[3]
    ended = ended + 1
  end
end
writeNodeFields(KEYS[2], writes, 'queued', 'cancelled', ended)
return ended
