-- forward-fix.lua — revert an applied migration with a NEW migration (seed 002 "Option 2:
-- Forward-Fix"), so the audit trail only moves forward. The new migration is written from the
-- reverted one's down script (or as a template to fill in when it has none), shown for
-- review, and applied on confirmation.
local runbook = require "runbook"
local migrations = require "migrations"
local files = require "files"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"
local checks = require "lib.checks"

-- "V1_1__add_email.sql", "2/9_add_email.up.sql", "20240101_add_email/" -> "add_email"
local function stem(name)
  local base = name:match("([^/]+)/?$") or name
  base = base:gsub("%.up%.sql$", ""):gsub("%.sql$", ""):gsub("^[VvRr]?[%d%._%-]*_+", "")
  return (base:gsub("[^%w_%-]", "_"))
end

local function locate(ctx)
  local chain = migrate.chain(ctx)
  local m = chain:get(ctx.params.migration)
  if not m then ctx:config_error("migration " .. ctx.params.migration .. " is not in " .. ctx.params.migrations) end
  local st = migrate.status(ctx)
  local applied = false
  for _, n in ipairs(st.applied) do applied = applied or n == m.name end
  if not applied then ctx:fail(m.name .. " is not applied, so there is nothing to revert (roll it out of the chain instead)") end
  -- The fix is applied alone: pending migrations would otherwise go in with it, unreviewed.
  if #st.pending > 0 then
    ctx:fail(string.format("%d migration(s) are pending (%s): apply or remove them first; forward-fix applies only the fix",
      #st.pending, table.concat(st.pending, ", ")))
  end
  ctx.state.target = m
  ctx:log("reverting %s%s", m.name, m.has_down and (" using its down script " .. m.down_path) or " (it has no down script: a template will be written)")
end

local function write(ctx)
  local chain, m = migrate.chain(ctx), ctx.state.target
  local title = ctx.params.name ~= "" and ctx.params.name or ("revert_" .. stem(m.name))
  local header = string.format("-- Forward fix: reverts %s.\n-- Written by runbook forward-fix (run %s) from %s.\n",
    m.name, ctx.run_id, m.has_down and m.down_path or "a template")
  local up
  if m.has_down then
    up = header .. "\n" .. m.down_sql
  else
    up = header .. "-- TODO: write the SQL that undoes the migration below, then run this runbook again or\n" ..
      "-- apply.lua. Its SQL, for reference:\n--   " .. m.up_sql:gsub("\n", "\n--   ") .. "\n"
  end
  -- The chain's layout names and lays out the new migration as its tool would; reverting the
  -- revert re-applies the original, so the fix's down script is the original up.
  local fix = chain:new_migration { title = title, up = up,
    down = "-- Undoes the forward fix: re-applies " .. m.name .. ".\n\n" .. m.up_sql }
  for _, f in ipairs(fix.files) do files.write(f.path, f.content) end
  ctx.state.fix = { name = fix.name, path = fix.files[1].path, sql = fix.files[1].content, template = not m.has_down }
  ctx:artifact("forward_fix", { reverts = m.name, path = fix.files[1].path })
end

local function review(ctx)
  local fix = ctx.state.fix
  ctx:log("----- %s -----\n%s", fix.path, (fix.sql:gsub("%s+$", "")))
  if fix.template then
    ctx:abort("wrote the template " .. fix.path .. ": fill in the SQL that undoes " .. ctx.state.target.name ..
      ", have it reviewed, then run apply.lua")
  end
end

local function confirm(ctx)
  migrate.ask(ctx, "Apply the forward fix " .. ctx.state.fix.name .. " to " .. tostring(ctx:db()) .. "?")
end

local function apply(ctx)
  if ctx.dry_run then
    ctx:log("dry-run: would apply %s (not written, so not loaded)", ctx.state.fix.path)
    return
  end
  ctx.state.chain = nil -- reload: the chain now has the fix
  migrate.apply_on(ctx, ctx:db(), { target = ctx.state.fix.name })
end

local function verify(ctx)
  if ctx.dry_run then return end
  ctx.params.target = ctx.state.fix.name -- migrations after the fix may stay pending
  checks.run(ctx, { function() return checks.parity(ctx) end, function() return checks.invalid_indexes(ctx) end })
  checks.verdict(ctx)
end

return runbook.define {
  name = "forward-fix",
  description = "Write a new migration that reverts an applied one (from its down script), review it, apply it",
  params = {
    { name = "migration", type = "string", required = true, help = "the applied migration to revert (name or version)" },
    { name = "name", type = "string", default = "", help = "name of the new migration (default revert_<name>)" },
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    migrate.LEDGER_PARAM,
    migrate.LAYOUT_PARAM,
    { name = "lock_timeout", type = "duration", default = "30s", help = "lock_timeout for the fix" },
  },
  settings = { confirm = false },
  steps = {
    runbook.gate("connect", "Connect to the database", preflight.connect),
    runbook.gate("locate", "The migration to revert must be applied", locate),
    runbook.step("write", "Write the new migration from its down script (or a template)", write),
    runbook.step("review", "Show the new migration for review", review),
    runbook.gate("confirm", "Ask the operator", confirm),
    runbook.step("apply", "Apply the forward fix", apply),
    runbook.step("verify", "Parity PASS with the fix applied", verify),
  },
}
