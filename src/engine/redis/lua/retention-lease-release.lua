-- Lets the retention sweeper's lease go, only if it is still the caller's: a step that ran past the
-- lease's time may find another sweeper holding it, which it must not take away.
-- KEYS[1] the lease
-- ARGV[1] the sweeper's id
-- Returns 1 if it was let go, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
