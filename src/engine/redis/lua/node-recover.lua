-- A person's decision on a held node (POST /api/runs/{id}/nodes/{node}/recover): 'retry' runs it
-- again with fresh attempts; 'skip' marks it skipped and 'complete' marks it completed with the
-- outputs given (completed_by operator): either way it counts as done for its successors. A held
-- run goes on at once, in a new epoch (begin-epoch.lua); a paused one stays paused, and goes on
-- when it is resumed. Only a resting run's node is recovered: while other nodes of the run still
-- run, a new epoch would make their outcomes stale. The same recovery again (its id is the
-- request's Idempotency-Key, or else made from its body) answers as the first did.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run outputs hash, KEYS[4] run event stream,
-- KEYS[5] global event stream, KEYS[6] active runs set, KEYS[7] prefix of the runs-by-status
-- indexes, KEYS[8] ended runs, KEYS[9] device reservations hash (device -> run), KEYS[10] this
-- run's reservations, KEYS[11] set of jobs waiting for a reservation to end
-- ARGV[1] node id, ARGV[2] 'retry' | 'skip' | 'complete', ARGV[3] outputs JSON ('complete'),
-- ARGV[4] now (ISO), ARGV[5] the request's Idempotency-Key ('' for none: the id is made from the
-- decision and the hold it answers), ARGV[6] the node's event JSON ('' for none), ARGV[7] global
-- stream max length, ARGV[8] run stream max length, ARGV[9] the node's device, ARGV[10..] the
-- node's successors
-- Returns {'resumed' | 'recovered' | 'again', the run's status after, its epoch, jobs waiting for a
-- reservation to wake...}, or an error reply: RUN_NOT_FOUND, 'NODE_NOT_HELD <status>',
-- 'RUN_NOT_RESTING <status>'.
--- @include "append-event"
--- @include "set-node-status"
--- @include "set-run-status"
--- @include "release-successors"
--- @include "begin-epoch"
--- @include "device-node-done"

local node = ARGV[1]
local run = redis.call('HMGET', KEYS[1], 'status', 'epoch', 'halt', 'run_id')
if not run[1] then return redis.error_reply('RUN_NOT_FOUND') end
local fields = redis.call('HMGET', KEYS[2], node .. ':status', node .. ':held_at', node .. ':recovery')
local status = fields[1] or 'pending'
-- Without a key, the same decision on the same hold is the same request: a decision sent again
-- once the node is held anew (it was retried, and failed again) is taken as a new one.
local id = ARGV[5]
if id == '' then id = redis.sha1hex(ARGV[2] .. '\n' .. ARGV[3] .. '\n' .. (fields[2] or '')) end
if fields[3] == id then return {'again', run[1], tonumber(run[2]) or 0} end
if status ~= 'held' then return redis.error_reply('NODE_NOT_HELD ' .. status) end
-- A resting run only: held (its halt too: a cancel or a pause of it may be under way), or paused.
local halt = run[3] or ''
if not ((run[1] == 'held' and halt == 'held') or halt == 'paused') then
  return redis.error_reply('RUN_NOT_RESTING ' .. run[1])
end

local action = ARGV[2]
local woken = {}
if action == 'retry' then
  setNodeStatus(KEYS[2], node, 'pending', node .. ':attempts', 0, node .. ':error', '',
    node .. ':started_at', '', node .. ':finished_at', '', node .. ':execution_time', '')
else
  woken = deviceNodeDone(KEYS[9], KEYS[10], KEYS[11], ARGV[9], run[4])
  if action == 'complete' then
    setNodeStatus(KEYS[2], node, 'completed', node .. ':finished_at', ARGV[4], node .. ':execution_time', 0,
      node .. ':error', '', node .. ':completed_by', 'operator')
    redis.call('HSET', KEYS[3], node, ARGV[3])
  else
    setNodeStatus(KEYS[2], node, 'skipped', node .. ':finished_at', ARGV[4])
  end
  -- Its successors have one predecessor less to wait for; the run releases them when it goes on.
  -- By batches: Lua's unpack takes a few thousand values at most.
  local batch = {}
  for i = 10, #ARGV do
    batch[#batch + 1] = ARGV[i]
    if #batch == 500 or i == #ARGV then
      releaseSuccessors(KEYS[2], true, batch)
      batch = {}
    end
  end
end
redis.call('HSET', KEYS[2], node .. ':recovery', id)
if ARGV[6] ~= '' then appendEvent(KEYS[4], KEYS[5], ARGV[6], ARGV[8], ARGV[7]) end
local answer
if halt == 'paused' then
  answer = {'recovered', run[1], tonumber(run[2]) or 0}
else
  local after, epoch = beginEpoch(KEYS[1], KEYS[2], KEYS[6], KEYS[7], KEYS[8], id, 'held')
  answer = {'resumed', after, epoch}
end
for _, waiter in ipairs(woken) do answer[#answer + 1] = waiter end
return answer
