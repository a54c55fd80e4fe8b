-- Ends queued nodes of a cancelled run whose jobs were taken out of their queues (they never
-- reached a device). A node no longer queued (it began meanwhile) is left alone. One HMGET and one
-- HSET for the batch, the counts moved at once: a batch of 250 nodes done node by node took 6-26 ms.
-- KEYS[1] run hash, KEYS[2] run nodes hash
-- ARGV[1] the epoch the jobs belonged to, ARGV[2] error JSON, ARGV[3] now (ISO), ARGV[4..] node ids
-- Returns how many nodes were ended.
--- @include "set-node-status"

if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] or #ARGV < 4 then return 0 end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] .. ':status' end
local statuses = redis.call('HMGET', KEYS[2], unpack(fields))
local writes = {}
local ended = 0
for i = 4, #ARGV do
  if statuses[i - 3] == 'queued' then
    local node = ARGV[i]
    writes[#writes + 1] = node .. ':status'
    writes[#writes + 1] = 'cancelled'
    writes[#writes + 1] = node .. ':error'
    writes[#writes + 1] = ARGV[2]
    writes[#writes + 1] = node .. ':finished_at'
    writes[#writes + 1] = ARGV[3]
    ended = ended + 1
  end
end
if ended == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(writes))
countMoved(KEYS[2], 'queued', 'cancelled', ended)
return ended
