-- Maintenance hooks from the environment (seed 001: pause workers; seed 004: maintenance
-- mode): argv lists run through the shell primitive, so dry-run prints them instead.
local shell = require "shell"

local M = {}

-- Replaces {backup}, {database}, {run_id} in each argument.
local function expand(argv, vars)
  local out = {}
  for i, a in ipairs(argv) do
    out[i] = (tostring(a):gsub("{(%w+)}", function(k) return vars[k] ~= nil and tostring(vars[k]) or "{" .. k .. "}" end))
  end
  return out
end

--- Runs one named hook of the environment if it is configured; returns true when it ran.
function M.run(ctx, name, vars)
  local hooks = ctx.env and ctx.env.hooks or {}
  local argv = hooks[name]
  if not argv then
    ctx:detail("no %s hook configured", name)
    return false
  end
  vars = vars or {}
  vars.run_id = vars.run_id or ctx.run_id
  local cmd = expand(argv, vars)
  cmd.timeout = 300
  ctx:log("hook %s: %s", name, table.concat(cmd, " "))
  shell.run(cmd)
  ctx:record("hook", { name = name })
  return true
end

--- Step: pause workers and enter maintenance mode (when the policy asks for maintenance).
--- The migration lock comes first: a run that cannot get it must not pause anything.
function M.pause(ctx)
  if not ctx.policy.maintenance then
    ctx:log("maintenance not required by this runbook's policy")
    return
  end
  local plan = ctx.state.plan and require("lib.migrate").lock(ctx)
  ctx.state.paused = true -- set first: a half-done pause must still be undone
  local any = M.run(ctx, "pause_workers")
  any = M.run(ctx, "maintenance_on") or any
  if not any then ctx:log("no pause_workers/maintenance_on hooks in the environment") end
  if plan then plan:entered_maintenance() end
end

--- Step (and failure handler): leave maintenance mode and resume workers, if paused.
function M.resume(ctx)
  if not ctx.state.paused then return end
  ctx.state.paused = false
  -- Both hooks always get their turn; the first failure is raised afterwards.
  local ok_off, err_off = pcall(M.run, ctx, "maintenance_off")
  local ok_resume, err_resume = pcall(M.run, ctx, "resume_workers")
  if not ok_off then error(err_off, 0) end
  if not ok_resume then error(err_resume, 0) end
end

return M
