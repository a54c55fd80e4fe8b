-- A person's decision on a waiting approval (POST .../approve or .../reject). Approved, it completes
-- with the outputs given (completed_by operator) and releases its successors; rejected, it fails
-- REJECTED (and halts the run), or is held when its on_failure is "hold". Its job, delayed until
-- its deadline, is then brought forward by the caller: it adds the released successors' jobs.
-- Only while the run goes on: a pausing, held or stopping run is putting its waiting approvals back
-- or ending them. The same decision again (its id is the request's Idempotency-Key, or else made
-- from its body and the wait it answers) answers as the first did.
-- KEYS[1] run hash, KEYS[2] run nodes hash, KEYS[3] run outputs hash, KEYS[4] run event stream,
-- KEYS[5] global event stream, KEYS[6] prefix of the runs-by-status indexes
-- ARGV[1] node id, ARGV[2] 'approve' | 'reject', ARGV[3] outputs JSON (approve) or error JSON
-- (reject), ARGV[4] now (ISO), ARGV[5] now (ms), ARGV[6] the request's Idempotency-Key ('' for
-- none), ARGV[7] the node's event JSON (execution_time left for this script to fill: -1, the first
-- field after type and node_id, so that no output comes before it),
-- ARGV[8] what a rejection makes it, 'failed' | 'held', ARGV[9] global stream max length,
-- ARGV[10] run stream max length, ARGV[11..] the node's successors
-- Returns {'decided' | 'again', the node's status after, the run's status, epoch}, or an error
-- reply: RUN_NOT_FOUND, 'NODE_NOT_WAITING <status>', 'RUN_NOT_GOING_ON <status> <halt>',
-- APPROVAL_EXPIRED (past its deadline: its job fails it APPROVAL_TIMEOUT when it next looks).
--- @include "append-event"
--- @include "set-node-status"
--- @include "release-successors"
--- @include "waiting-runs"
--- @include "end-approval"

local node = ARGV[1]
local run = redis.call('HMGET', KEYS[1], 'status', 'halt', 'epoch')
if not run[1] then return redis.error_reply('RUN_NOT_FOUND') end
local fields = redis.call('HMGET', KEYS[2], node .. ':status', node .. ':waiting_since', node .. ':decision',
  node .. ':deadline')
local status = fields[1] or 'pending'
local id = ARGV[6]
if id == '' then id = redis.sha1hex(ARGV[2] .. '\n' .. ARGV[3] .. '\n' .. (fields[2] or '')) end
if fields[3] == id then return {'again', status, run[1], tonumber(run[3]) or 0} end
if status ~= 'waiting' then return redis.error_reply('NODE_NOT_WAITING ' .. status) end
local halt = run[2] or ''
if halt ~= '' then return redis.error_reply('RUN_NOT_GOING_ON ' .. run[1] .. ' ' .. halt) end
local deadline = tonumber(fields[4])
if deadline and deadline <= tonumber(ARGV[5]) then return redis.error_reply('APPROVAL_EXPIRED') end

local seconds = math.max(0, (tonumber(ARGV[5]) - (tonumber(fields[2]) or tonumber(ARGV[5])))) / 1000
local event = string.gsub(ARGV[7], '"execution_time":%-1', '"execution_time":' .. string.format('%.3f', seconds), 1)
local after
if ARGV[2] == 'approve' then
  after = 'completed'
  setNodeStatus(KEYS[2], node, 'completed', node .. ':finished_at', ARGV[4], node .. ':execution_time', seconds,
    node .. ':error', '', node .. ':completed_by', 'operator', node .. ':deadline', '')
  redis.call('HSET', KEYS[3], node, ARGV[3])
  -- By batches: Lua's unpack takes a few thousand values at most.
  local released, batch = {}, {}
  for i = 11, #ARGV do
    batch[#batch + 1] = ARGV[i]
    if #batch == 500 or i == #ARGV then
      for _, successor in ipairs(releaseSuccessors(KEYS[2], false, batch)) do released[#released + 1] = successor end
      batch = {}
    end
  end
  local text = '[]'
  if #released > 0 then text = cjson.encode(released) end
  redis.call('HSET', KEYS[2], node .. ':released', text)
  syncWaitingRuns(KEYS[1], KEYS[2], KEYS[6])
else
  after = ARGV[8]
  endApproval(KEYS[1], KEYS[2], KEYS[6], node, after, ARGV[3], ARGV[4], seconds)
end
redis.call('HSET', KEYS[2], node .. ':decision', id)
appendEvent(KEYS[4], KEYS[5], event, ARGV[10], ARGV[9])
return {'decided', after, run[1], tonumber(run[3]) or 0}
