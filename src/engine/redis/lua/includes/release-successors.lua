-- A completed node's successors each have one predecessor less to wait for; those left with none,
-- and pending, are released (marked queued), unless the run is halted (a resume releases them).
-- One HMGET and one HSET for the whole batch, and the counts moved at once. The caller bounds the
-- batch (successorBatch in run-ledger.ts), so that no one script call holds Redis for long.
-- Returns the released successors.
local function releaseSuccessors(nodesKey, halted, successors)
  local released = {}
  if #successors == 0 then return released end
  local values = readNodeFields(nodesKey, successors, {'remaining', 'status'})
  local writes = {}
  for i, successor in ipairs(successors) do
    local remaining = (tonumber(values[i * 2 - 1]) or 0) - 1
    writes[#writes + 1] = successor .. ':remaining'
    writes[#writes + 1] = remaining
    if remaining == 0 and not halted and values[i * 2] == 'pending' then
      writes[#writes + 1] = successor .. ':status'
      writes[#writes + 1] = 'queued'
      released[#released + 1] = successor
    end
  end
  writeNodeFields(nodesKey, writes, 'pending', 'queued', #released)
  return released
end

-- What a release step answered, as it answers when asked again (ioredis resent it, or a worker
-- wrote the same completion again): its released successors less those that have begun since
-- (their jobs exist), and where the next batch starts.
local function releasedAgain(nodesKey, answerField)
  local answer = cjson.decode(redis.call('HGET', nodesKey, answerField) or '[[],[],0]')
  local released = {}
  for _, successor in ipairs(answer[1]) do
    if redis.call('HGET', nodesKey, successor .. ':status') == 'queued' then released[#released + 1] = successor end
  end
  return {released, answer[2], answer[3] or 0}
end
