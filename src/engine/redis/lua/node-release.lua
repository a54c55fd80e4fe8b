-- Goes on with a completed node's release of its successors, one batch at a time, where
-- node-complete.lua (or the batch before) left it: a node with thousands of successors releases
-- them over several short script calls rather than one that holds Redis for tens of ms.
-- A batch asked again (ioredis resent it, or a worker went over it again) answers as it did.
-- KEYS[1] run hash, KEYS[2] run nodes hash
-- ARGV[1] node id, ARGV[2] the caller's epoch, ARGV[3] the position (1-based) of this batch's first
-- successor among the node's successors, ARGV[4] how many successors the node has,
-- ARGV[5..] this batch of them
-- Returns {released successor ids, next}, next being where the following batch starts (0: none),
-- or -1 if nothing was done: an older epoch's caller, a node not completed, or a batch out of turn.
--- @include "set-node-status"
--- @include "release-successors"

local node = ARGV[1]
local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt')
if run[1] ~= ARGV[2] then return -1 end
if redis.call('HGET', KEYS[2], node .. ':status') ~= 'completed' then return -1 end
local from = tonumber(ARGV[3])
local answerField = node .. ':released@' .. from
local next = tonumber(redis.call('HGET', KEYS[2], node .. ':release_next') or '')
if next == nil or from < next then
  if redis.call('HEXISTS', KEYS[2], answerField) == 0 then return -1 end
  local again = releasedAgain(KEYS[2], answerField)
  return {again[1], again[3]}
end
if from > next then return -1 end
local batch = {}
for i = 5, #ARGV do batch[#batch + 1] = ARGV[i] end
local released = releaseSuccessors(KEYS[2], (run[2] or '') ~= '', batch)
next = from + #batch
if next > tonumber(ARGV[4]) then
  next = 0
  redis.call('HDEL', KEYS[2], node .. ':release_next')
else
  redis.call('HSET', KEYS[2], node .. ':release_next', next)
end
redis.call('HSET', KEYS[2], answerField, cjson.encode({released, {}, next}))
return {released, next}
