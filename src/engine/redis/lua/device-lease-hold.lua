-- Takes or renews a worker's lease on a device and writes the device's record, unless another live
-- worker holds it. The record is the lease: a hash that expires unless its holder renews it, so a
-- dead worker's devices are free again after one lease time.
-- KEYS[1] device hash
-- ARGV[1] worker id, ARGV[2] lease time (ms), ARGV[3..] field, value pairs of the record
-- Returns the id of the worker that holds the lease after the call.
local holder = redis.call('HGET', KEYS[1], 'worker_id')
if holder and holder ~= ARGV[1] then return holder end
redis.call('HSET', KEYS[1], 'worker_id', ARGV[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return ARGV[1]
