-- Gives up a worker's lease on a device, if it still holds it; the device shows offline at once.
-- KEYS[1] device hash
-- ARGV[1] worker id
-- Returns 1 if the lease was released, 0 if this worker did not hold it.
if redis.call('HGET', KEYS[1], 'worker_id') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
