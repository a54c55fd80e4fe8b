-- A run's node counts by status ('#<status>' fields, kept by set-node-status.lua). A run recorded
-- before the counts existed gets them here, counted from its nodes in this one step, so that no
-- status change can fall between the count and the first increment.
-- KEYS[1] run nodes hash
-- ARGV[1..] every node id of the run (read only when the run has no counts yet)
-- Returns {pending, queued, running, completed, failed, cancelled}.
local statuses = {'pending', 'queued', 'running', 'completed', 'failed', 'cancelled'}
if redis.call('HEXISTS', KEYS[1], '#counted') == 0 then
  local counts = {}
  for _, status in ipairs(statuses) do counts[status] = 0 end
  for i = 1, #ARGV do
    local status = redis.call('HGET', KEYS[1], ARGV[i] .. ':status') or 'pending'
    counts[status] = (counts[status] or 0) + 1
  end
  for _, status in ipairs(statuses) do redis.call('HSET', KEYS[1], '#' .. status, counts[status]) end
  redis.call('HSET', KEYS[1], '#counted', 1)
end
local result = {}
for i, status in ipairs(statuses) do result[i] = tonumber(redis.call('HGET', KEYS[1], '#' .. status) or 0) end
return result
