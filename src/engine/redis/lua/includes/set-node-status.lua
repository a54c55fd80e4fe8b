-- Sets a node's status (with any further field/value pairs) and keeps the run's node counts in
-- step: '#<status>' fields of the nodes hash, how many nodes are in each status, so that reading
-- a run's progress or deciding its end never walks its nodes. A node id has no '#', so these never
-- meet a node's own fields. A run recorded before the counts existed has no '#counted': its counts
-- are made in one step the first time they are read (node-counts.lua), and kept from then on.
local function countMoved(nodesKey, before, after, count)
  if before ~= after and count > 0 and redis.call('HEXISTS', nodesKey, '#counted') == 1 then
    redis.call('HINCRBY', nodesKey, '#' .. before, -count)
    redis.call('HINCRBY', nodesKey, '#' .. after, count)
  end
end

local function setNodeStatus(nodesKey, node, status, ...)
  local before = redis.call('HGET', nodesKey, node .. ':status') or 'pending'
  redis.call('HSET', nodesKey, node .. ':status', status, ...)
  countMoved(nodesKey, before, status, 1)
end
