-- Records a failed attempt that will be tried again after a delay (or, with no event, a command an
-- immediate pause stopped: the node is queued again, and runs from the start once resumed).
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream,
-- KEYS[5] the device's lease
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] error JSON, ARGV[4] node_retrying JSON ('' for none),
-- ARGV[5] global stream max length, ARGV[6] run stream max length, ARGV[7] the worker's fencing token
-- Returns 1, -1 if the job is not the node's current one, or -2 if the worker no longer holds the
-- device.
--- @include "fence-holds"
--- @include "append-event"
--- @include "set-node-status"

local node = ARGV[1]
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] or redis.call('HGET', KEYS[2], node .. ':status') ~= 'running' then
  return -1
end
if not fenceHolds(KEYS[5], ARGV[7]) then return -2 end
setNodeStatus(KEYS[2], node, 'queued', node .. ':error', ARGV[3])
if ARGV[4] ~= '' then appendEvent(KEYS[3], KEYS[4], ARGV[4], ARGV[6], ARGV[5]) end
return 1
