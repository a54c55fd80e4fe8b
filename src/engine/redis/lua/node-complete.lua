-- Records a node's outputs and releases the successors whose predecessors are now all complete.
-- A node already completed (or a job of an older epoch) changes nothing, except that the same
-- completion again (ioredis resends a command whose reply a dropped connection lost; a worker
-- writes a result again after Redis refused a write on the way) answers as the first time did.
-- The last node of a reserving run on a device ends the run's reservation of that device.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run outputs hash,
-- KEYS[4] run event stream, KEYS[5] global event stream,
-- KEYS[6] device reservations hash (device -> run), KEYS[7] this run's reservations (device -> nodes
-- left there), KEYS[8] set of jobs waiting for a reservation to end, KEYS[9] the device's lease
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] outputs JSON, ARGV[4] when it ended (ISO),
-- ARGV[5] execution time (s), ARGV[6] node_completed JSON, ARGV[7] global stream max length,
-- ARGV[8] the node's device, ARGV[9] run stream max length, ARGV[10] the worker's fencing token,
-- ARGV[11] this completion's id (one per command's end), ARGV[12] the started_at of the attempt
-- that ended ('' if not known), ARGV[13] how many successors the node has, ARGV[14..] the first
-- batch of them (all of them, for most nodes)
-- Returns {released successor ids, waiting jobs to wake, next}, where next is 0, or the position
-- (1-based) of the first successor not yet looked at: the caller goes on from there with
-- node-release.lua, batch by batch. -1 if nothing was done, or -2 if the worker no longer holds the
-- device and the node is not running from its attempt any more.
-- Until its last batch is done, the node's ':release_next' says where the release stands, so that
-- a worker that dies part-way leaves the rest to the run job (orchestrator.ts).
--- @include "fence-holds"
--- @include "append-event"
--- @include "set-node-status"
--- @include "release-successors"
--- @include "device-node-done"

local node = ARGV[1]
local run = redis.call('HMGET', KEYS[1], 'epoch', 'halt', 'run_id')
if run[1] ~= ARGV[2] then return -1 end
local status = redis.call('HGET', KEYS[2], node .. ':status')
if status == 'completed' then
  if redis.call('HGET', KEYS[2], node .. ':completion') ~= ARGV[11] then return -1 end
  return releasedAgain(KEYS[2], node .. ':released')
end
if status ~= 'running' then return -1 end
-- A worker whose lease lapsed while it waited to record this (Redis refused writes, or its link was
-- down) still records it while the node is running from that very attempt: nobody has begun the
-- node since, and the command did end on the device. A newer attempt is never overwritten.
if not fenceHolds(KEYS[9], ARGV[10])
  and (ARGV[12] == '' or redis.call('HGET', KEYS[2], node .. ':started_at') ~= ARGV[12]) then
  return -2
end
setNodeStatus(KEYS[2], node, 'completed', node .. ':finished_at', ARGV[4],
  node .. ':execution_time', ARGV[5], node .. ':error', '')
redis.call('HSET', KEYS[3], node, ARGV[3])
appendEvent(KEYS[4], KEYS[5], ARGV[6], ARGV[9], ARGV[7])
local halted = (run[2] or '') ~= ''
local batch = {}
for i = 14, #ARGV do batch[#batch + 1] = ARGV[i] end
local released = releaseSuccessors(KEYS[2], halted, batch)
local total = tonumber(ARGV[13])
local next = 0
if #batch < total then
  next = #batch + 1
  redis.call('HSET', KEYS[2], node .. ':release_next', next)
end
local woken = deviceNodeDone(KEYS[6], KEYS[7], KEYS[8], ARGV[8], run[3])
redis.call('HSET', KEYS[2], node .. ':completion', ARGV[11],
  node .. ':released', cjson.encode({released, woken, next}))
return {released, woken, next}
