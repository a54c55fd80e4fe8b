-- Saves a pipeline document under the next version, atomically: two concurrent saves can never
-- leave the older version stored after a client was told of the newer.
-- KEYS[1] pipeline hash, KEYS[2] version counter (outlives a delete), KEYS[3] pipeline id set
-- ARGV[1] pipeline id, ARGV[2] document JSON, ARGV[3] now (ISO), ARGV[4] name, ARGV[5] node count
-- Returns {version, 1 if it was new else 0}
local existed = redis.call('EXISTS', KEYS[1])
local version = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'document', ARGV[2], 'version', version, 'updated_at', ARGV[3],
  'name', ARGV[4], 'node_count', ARGV[5])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return {version, 1 - existed}
