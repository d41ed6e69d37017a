-- Argo CD health check for nodewave.io/Job (resource.customizations.health.nodewave.io_Job).
-- Healthy: the current version runs everywhere it should. Progressing: a rollout is under way.
-- Suspended: a canary waits for a promote, the rollout is paused or waits for a maintenance
-- window. Degraded: the rollout failed, was rolled back or was aborted.
local hs = {}
if obj.status == nil or obj.status.observedGeneration == nil
   or obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end
local phase = nil
if obj.status.rollout ~= nil then phase = obj.status.rollout.phase end
local conditions = {}
for _, c in ipairs(obj.status.conditions or {}) do conditions[c.type] = c end
local function message(c) if c ~= nil and c.message ~= nil then return c.message end return "" end
if conditions["Stalled"] ~= nil and conditions["Stalled"].status == "True" then
  hs.status = "Degraded"
  hs.message = message(conditions["Stalled"])
elseif phase == "AwaitingPromotion" or phase == "AwaitingConfirmation" or phase == "Paused"
    or phase == "WaitingForWindow" then
  hs.status = "Suspended"
  hs.message = obj.status.rollout.message or phase
elseif conditions["Reconciling"] ~= nil and conditions["Reconciling"].status == "True" then
  hs.status = "Progressing"
  hs.message = message(conditions["Reconciling"])
elseif conditions["Ready"] ~= nil and conditions["Ready"].status == "True" then
  hs.status = "Healthy"
  hs.message = message(conditions["Ready"])
else
  hs.status = "Degraded"
  hs.message = message(conditions["Ready"])
end
return hs
