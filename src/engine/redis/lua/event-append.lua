-- Appends an event that changes no state (node_progress) to a run's stream and the global stream.
-- KEYS[1] run event stream, KEYS[2] global event stream
-- ARGV[1] event JSON, ARGV[2] global stream max length, ARGV[3] run stream max length
-- The event is added to the run stream first; the global entry carries that entry's id as 'id'.
-- Returns the run stream entry's id (the event_id).
local eventId = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1], 'id', eventId)
return eventId
