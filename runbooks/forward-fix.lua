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

-- The next version after the chain's newest, in the same style (zero-padded or timestamp).
local function next_version(chain)
  local list = chain:list()
  local last = list[#list] and list[#list].version or "0"
  if #last >= 12 and last:match("^%d+$") then return os.date("!%Y%m%d%H%M%S") end
  local n = tonumber(last:match("^(%d+)"))
  if not n then return os.date("!%Y%m%d%H%M%S") end
  return string.format("%0" .. #last .. "d", n + 1)
end

local function stem(name)
  return (name:gsub("%.up%.sql$", ""):gsub("%.sql$", ""):gsub("^[Vv]?[%d%-]+_+", ""))
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
  local version = next_version(chain)
  local name = version .. "_" .. (ctx.params.name ~= "" and ctx.params.name or ("revert_" .. stem(m.name)))
  local header = string.format("-- Forward fix: reverts %s.\n-- Written by runbook forward-fix (run %s) from %s.\n",
    m.name, ctx.run_id, m.has_down and m.down_path or "a template")
  local up
  if m.has_down then
    up = header .. "\n" .. m.down_sql
  else
    up = header .. "-- TODO: write the SQL that undoes the migration below, then run this runbook again with --set file=...\n" ..
      "-- or apply.lua. Its SQL, for reference:\n--   " .. m.up_sql:gsub("\n", "\n--   ") .. "\n"
  end
  local dir, layout = chain:directory(), chain:layout()
  local path, down_path
  if layout == "diesel" then
    path, down_path = dir .. "/" .. name .. "/up.sql", dir .. "/" .. name .. "/down.sql"
  elseif layout == "prisma" then
    path = dir .. "/" .. name .. "/migration.sql"
  elseif layout == "golang-migrate" or layout == "sqlx" then
    path, down_path = dir .. "/" .. name .. ".up.sql", dir .. "/" .. name .. ".down.sql"
  elseif layout == "dbmate" then
    path = dir .. "/" .. name .. ".sql"
    up = "-- migrate:up\n" .. up .. "\n-- migrate:down\n" .. m.up_sql
  else
    path = dir .. "/" .. name .. ".sql"
  end
  files.write(path, up)
  -- Reverting the revert re-applies the original: the fix's down script is the original up.
  if down_path then files.write(down_path, "-- Undoes the forward fix " .. name .. ": re-applies " .. m.name .. ".\n\n" .. m.up_sql) end
  ctx.state.fix = { name = (layout == "diesel" or layout == "prisma") and name or (path:match("[^/]+$")), path = path, sql = up, template = not m.has_down }
  ctx:artifact("forward_fix", { reverts = m.name, path = path })
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
    { name = "ledger", type = "string", default = "public.schema_migrations", help = "ledger table (schema.table)" },
    { name = "layout", type = "string", default = "", help = "migration layout (default: detected): flat, golang-migrate, sqlx, diesel, prisma, dbmate" },
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
