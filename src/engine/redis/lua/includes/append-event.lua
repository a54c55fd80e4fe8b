-- Appends an event to its run's stream, then to the global stream with the run entry's id as 'id',
-- so an event_id is the same whichever stream it is read from. Returns that id.
local function appendEvent(runStream, globalStream, json, runMax, globalMax)
  local eventId = redis.call('XADD', runStream, 'MAXLEN', '~', runMax, '*', 'e', json)
  redis.call('XADD', globalStream, 'MAXLEN', '~', globalMax, '*', 'e', json, 'id', eventId)
  return eventId
end
