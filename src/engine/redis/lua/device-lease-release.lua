-- Gives up a worker's lease on a device, if it still holds it; the device shows offline at once.
-- The fencing token stays, so the next holder's is larger.
-- KEYS[1] device record hash, KEYS[2] device lease hash
-- ARGV[1] worker id
-- Returns 1 if the lease was released, 0 if this worker did not hold it.
if redis.call('HGET', KEYS[2], 'holder') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'holder', '', 'until', 0)
redis.call('DEL', KEYS[1])
return 1
