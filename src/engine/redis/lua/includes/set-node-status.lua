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

-- The named fields of each of `nodes` in one HMGET, for scripts that handle nodes by batches
-- rather than a command per node: values[(i - 1) * #names + j] is node i's names[j].
local function readNodeFields(nodesKey, nodes, names)
  local fields = {}
  for _, node in ipairs(nodes) do
    for _, name in ipairs(names) do fields[#fields + 1] = node .. ':' .. name end
  end
  if #fields == 0 then return {} end
  return redis.call('HMGET', nodesKey, unpack(fields))
end

-- A batch's field/value pairs in one HSET, with `count` nodes counted from `before` to `after`.
local function writeNodeFields(nodesKey, writes, before, after, count)
  if #writes == 0 then return end
  redis.call('HSET', nodesKey, unpack(writes))
  countMoved(nodesKey, before, after, count)
end
