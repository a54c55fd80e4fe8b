-- A run's node counts by status ('#<status>' fields, kept by set-node-status.lua). A run recorded
-- before the counts existed gets them here, counted from its nodes in this one step, so that no
-- status change can fall between the count and the first increment; 'recount' counts again a run
-- whose counts were found off (a script of an older release changed statuses without them).
-- KEYS[1] run nodes hash
-- ARGV[1] 'count' | 'recount', ARGV[2..] every node id of the run (read only when counting)
-- Returns {pending, queued, running, completed, failed, cancelled, held, skipped, waiting} (nodeStatuses in types.ts); all 0, and nothing written, for
-- a run that is gone (removed by retention between the caller's reads).
local statuses = {'pending', 'queued', 'running', 'completed', 'failed', 'cancelled', 'held', 'skipped', 'waiting'}
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, 0, 0, 0, 0, 0, 0} end
if ARGV[1] == 'recount' or redis.call('HEXISTS', KEYS[1], '#counted') == 0 then
  local counts = {}
  for _, status in ipairs(statuses) do counts[status] = 0 end
  for i = 2, #ARGV do
    local status = redis.call('HGET', KEYS[1], ARGV[i] .. ':status') or 'pending'
    counts[status] = (counts[status] or 0) + 1
  end
  for _, status in ipairs(statuses) do redis.call('HSET', KEYS[1], '#' .. status, counts[status]) end
  redis.call('HSET', KEYS[1], '#counted', 1)
end
local result = {}
for i, status in ipairs(statuses) do result[i] = tonumber(redis.call('HGET', KEYS[1], '#' .. status) or 0) end
return result
