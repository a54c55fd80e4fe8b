-- A reserving run's node on `device` is done (completed, or skipped or completed by a person): one
-- node less left there. With none left, the run's reservation of the device ends, unless another
-- run holds it by now. Returns the jobs waiting for a reservation to end, to wake (none if the
-- reservation goes on, or the run reserves nothing).
local function deviceNodeDone(deviceReservations, runReservations, waiters, device, runId)
  if redis.call('HEXISTS', runReservations, device) == 0 then return {} end
  if redis.call('HINCRBY', runReservations, device, -1) > 0 then return {} end
  redis.call('HDEL', runReservations, device)
  if redis.call('HGET', deviceReservations, device) == runId then redis.call('HDEL', deviceReservations, device) end
  local woken = redis.call('SMEMBERS', waiters)
  redis.call('DEL', waiters)
  return woken
end
