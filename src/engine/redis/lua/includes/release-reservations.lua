-- Ends a run's device reservations: each device the run still reserves is free again (unless
-- another run holds it by now), and the run's own list of them goes. Returns whether it had any.
local function releaseReservations(deviceReservations, runReservations, runId)
  local reserved = redis.call('HKEYS', runReservations)
  for _, device in ipairs(reserved) do
    if redis.call('HGET', deviceReservations, device) == runId then redis.call('HDEL', deviceReservations, device) end
  end
  redis.call('DEL', runReservations)
  return #reserved > 0
end
