-- Whether a worker's fencing token for a device is still the current one: each new holder of a
-- device's lease gets a larger token (device-lease-hold.lua), so a holder that stalled and lost the
-- device can no longer begin or record a node on it. An empty token is the orchestrator's, which
-- drives no device and is never fenced.
local function fenceHolds(leaseKey, token)
  if token == '' then return true end
  return redis.call('HGET', leaseKey, 'fence') == token
end
