-- Appends a node_progress event (it changes no state) to a run's stream and the global stream, only
-- while the node is running in the job's epoch and the worker still holds the device: progress a
-- stale holder sent before it stopped must not follow the node's end in the run's events.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run event stream, KEYS[4] global event stream,
-- KEYS[5] the device's lease
-- ARGV[1] node id, ARGV[2] the job's epoch, ARGV[3] the worker's fencing token, ARGV[4] event JSON,
-- ARGV[5] global stream max length, ARGV[6] run stream max length
-- Returns the run stream entry's id (the event_id), or -1 if nothing was appended.
--- @include "fence-holds"
--- @include "append-event"

-- An empty token (no device held: tests that write events by hand) is never refused.
if ARGV[3] ~= '' then
  if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then return -1 end
  if redis.call('HGET', KEYS[2], ARGV[1] .. ':status') ~= 'running' then return -1 end
  if not fenceHolds(KEYS[5], ARGV[3]) then return -1 end
end
return appendEvent(KEYS[3], KEYS[4], ARGV[4], ARGV[6], ARGV[5])
