-- Maintenance hooks from the environment (seed 001: pause workers; seed 004: maintenance
-- mode): argv lists run through the shell primitive, so dry-run prints them instead.
local shell = require "shell"

local M = {}

local SHELLS = { sh = true, bash = true, dash = true, zsh = true, ksh = true, ash = true }

-- The index of the script in `sh -c SCRIPT ...` (any of SHELLS, flags such as -ec allowed), or nil.
local function shell_script_index(argv)
  local base = tostring(argv[1] or ""):match("([^/]+)$")
  if not SHELLS[base] then return nil end
  for i = 2, #argv do
    local a = tostring(argv[i])
    if a:sub(1, 1) ~= "-" then return nil end
    if a:find("c", 2, true) then return i + 1 end
  end
  return nil
end

-- Substitutes {backup}, {database}, {run_id}, ... Each value stays one argv element; inside a
-- shell script (`sh -c`) a placeholder becomes "${RUNBOOK_NAME}" and the value is passed in the
-- environment, so no value (a database named `$(...)`) is ever parsed as shell code.
local function expand(ctx, name, argv, vars)
  local out, env = {}, {}
  local script_at = shell_script_index(argv)
  for i, a in ipairs(argv) do
    out[i] = (tostring(a):gsub("{([%w_]+)}", function(k)
      if vars[k] == nil then
        local known = {}
        for key in pairs(vars) do known[#known + 1] = "{" .. key .. "}" end
        table.sort(known)
        -- Warned, not raised: a hook of the failure path (maintenance_off) must still run.
        ctx:warn("hook %s: unknown placeholder {%s} left as written (known here: %s)", name, k, table.concat(known, ", "))
        return "{" .. k .. "}"
      end
      if i == script_at then
        env["RUNBOOK_" .. k:upper()] = tostring(vars[k])
        return '"${RUNBOOK_' .. k:upper() .. '}"'
      end
      return tostring(vars[k])
    end))
  end
  return out, env
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
  local cmd, env = expand(ctx, name, argv, vars)
  cmd.timeout = 300
  if next(env) then cmd.env = env end
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
