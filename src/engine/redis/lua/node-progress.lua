-- Appends an event that changes no state (node_progress) to a run's stream and the global stream.
-- KEYS[1] run event stream, KEYS[2] global event stream
-- ARGV[1] event JSON, ARGV[2] global stream max length, ARGV[3] run stream max length
-- Returns the run stream entry's id (the event_id).
--- @include "append-event"

return appendEvent(KEYS[1], KEYS[2], ARGV[1], ARGV[3], ARGV[2])
