-- Takes or renews a worker's lease on a device and writes the device's record, unless another live
-- worker holds it. Each new holder gets a larger fencing token, which every node begin and
-- completion on the device carries (fence-holds.lua): a holder that stalled past its lease and
-- wakes up late can no longer change the ledger. Leases run on the lease clock (lease-clock.lua),
-- so a stall of Redis itself never hands a device over; the record (what GET /api/devices shows)
-- expires in real time, so a dead worker's devices show offline.
-- KEYS[1] device record hash, KEYS[2] device lease hash (holder, fence, until), KEYS[3] lease clock
-- ARGV[1] worker id, ARGV[2] lease time (ms), ARGV[3] the lease clock's longest step (ms),
-- ARGV[4..] field, value pairs of the record
-- Returns {the worker that holds the lease after the call, its fencing token}.
--- @include "lease-clock"

local now = leaseClock(KEYS[3], tonumber(ARGV[3]))
local lease = redis.call('HMGET', KEYS[2], 'holder', 'fence', 'until')
local holder, fence, untilMs = lease[1], lease[2], tonumber(lease[3] or '0')
if holder and holder ~= '' and holder ~= ARGV[1] and untilMs > now then return {holder, fence} end
if holder ~= ARGV[1] then fence = tostring(redis.call('HINCRBY', KEYS[2], 'fence', 1)) end
redis.call('HSET', KEYS[2], 'holder', ARGV[1], 'until', now + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'worker_id', ARGV[1], 'fence', fence, unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {ARGV[1], fence}
