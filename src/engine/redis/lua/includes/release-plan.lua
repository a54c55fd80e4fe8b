-- Gives back a run's reference to its plan (plan-store.ts); the last reference deletes the plan.
local function releasePlan(planPrefix, planId)
  if not planId or planId == '' then return end
  if redis.call('HINCRBY', planPrefix .. planId, 'refs', -1) <= 0 then
    redis.call('DEL', planPrefix .. planId)
  end
end
