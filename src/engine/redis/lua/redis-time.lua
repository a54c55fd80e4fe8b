-- Redis's clock, read on the server that holds the key: on a cluster, a keyless TIME goes to any
-- master, whose clock need not be the one that scored the key's entries.
-- KEYS[1] the key whose server's clock is wanted
-- Returns {seconds, microseconds}.
return redis.call('TIME')
