-- The lease clock: milliseconds that advance with Redis's own time, but by at most a step per call.
-- Workers call it at least every second, so it keeps pace with real time while Redis serves; when
-- Redis itself stalls (a freeze, a restart) it advances by one step only, so a stall of Redis is
-- never taken for the silence of a lease holder, whose leases would all lapse at once.
local function leaseClock(clockKey, maxStepMs)
  local time = redis.call('TIME')
  local real = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local clock = redis.call('HMGET', clockKey, 'real', 'logical')
  local last, logical = tonumber(clock[1]), tonumber(clock[2])
  if not last or not logical then
    logical = real
  else
    local step = real - last
    if step < 0 then step = 0 elseif step > maxStepMs then step = maxStepMs end
    logical = logical + step
  end
  redis.call('HSET', clockKey, 'real', real, 'logical', logical)
  return logical
end
