-- rollback.lua — roll back the last N migrations (or back to a version), seed 001's decision
-- flow: down scripts when every needed one exists and you did not ask for a restore;
-- otherwise restore the backup recorded by the last apply run (found in the run records).
-- Either way the ledger ends consistent with the schema.
local runbook = require "runbook"
local migrations = require "migrations"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"
local backup = require "lib.backup"
local database = require "lib.database"
local hooks = require "lib.hooks"
local checks = require "lib.checks"

-- Decides between down scripts and a restore, and says why.
local function plan(ctx)
  local chain = migrate.chain(ctx)
  local method = ctx.params.method
  if method ~= "restore" then
    local ok, names = pcall(migrations.rollback_plan, ctx:db(), chain,
      migrate.ledger_opts(ctx, { count = ctx.params.count, to = ctx.params.to }))
    if ok then
      ctx.state.method, ctx.state.names = "down", names
      ctx:log("plan: run the down scripts of %s (newest first)", table.concat(names, ", "))
      if #names == 0 then ctx:log("nothing to roll back") end
      return
    end
    if method == "down" then ctx:fail(tostring(names)) end
    ctx:warn("down scripts cannot do it: %s", tostring(names))
  end
  local name = database.current(ctx)
  local b = backup.latest(ctx, name)
  if not b then
    ctx:fail("no backup of " .. name .. " recorded in the run records under " .. ctx.journal_dir ..
      "; restore by hand from your provider's snapshot (seed 001, rollback option 2)")
  end
  ctx.state.method, ctx.state.backup = "restore", b
  ctx:log("plan: restore %s (taken by run %s of %s, sha256 %s); the current database is kept under another name",
    b.path, b.run_id, b.runbook, b.sha256)
end

local function confirm(ctx)
  if ctx.state.method == "down" and #ctx.state.names == 0 then return end
  local what = ctx.state.method == "down"
    and string.format("Roll back %d migration(s) with their down scripts on %s?", #ctx.state.names, tostring(ctx:db()))
    or string.format("Restore %s over %s? Everything written since the backup is replaced.", ctx.state.backup.path, tostring(ctx:db()))
  local token = ctx.env and ctx.env.confirm or ctx.settings.confirm
  ctx:confirm { question = what, token = token or nil }
end

local function rollback(ctx)
  if ctx.state.method == "down" then
    if #ctx.state.names == 0 then return end
    migrations.rollback(ctx:db(), migrate.chain(ctx), migrate.ledger_opts(ctx, {
      count = ctx.params.count, to = ctx.params.to, lock_timeout = ctx.params.lock_timeout,
      lock_wait = runbook.seconds(ctx.params.lock_wait),
    }))
  else
    backup.restore(ctx, ctx.state.backup)
  end
end

local function verify(ctx)
  if ctx.dry_run then
    ctx:log("dry-run: nothing was rolled back")
    return
  end
  local st = migrate.status(ctx)
  ctx:log("after rollback: %s", migrate.summary(st))
  local r = { name = "ledger consistent", result = st.parity, detail = migrate.summary(st) }
  ctx:record("check", r)
  if st.parity ~= "PASS" then ctx:verify_failed("after rollback the ledger has drifted:\n  - " .. table.concat(st.drift, "\n  - ")) end
  checks.run(ctx, { function() return checks.invalid_indexes(ctx) end })
end

return runbook.define {
  name = "rollback",
  description = "Roll back the last N migrations with down scripts, or restore the last apply's backup",
  params = {
    { name = "count", type = "integer", default = 1, min = 1, help = "how many of the newest applied migrations" },
    { name = "to", type = "string", help = "or: roll back everything applied after this version" },
    { name = "method", type = "enum", choices = { "auto", "down", "restore" }, default = "auto",
      help = "auto: down scripts when all exist, else restore" },
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    { name = "ledger", type = "string", default = "public.schema_migrations", help = "ledger table (schema.table)" },
    { name = "lock_timeout", type = "duration", default = "30s", help = "lock_timeout for each down script" },
    { name = "lock_wait", type = "duration", default = "60s", help = "how long to wait for another runner's lock" },
  },
  settings = { confirm = false, maintenance = true },
  steps = {
    runbook.gate("connect", "Connect to the database", preflight.connect),
    runbook.gate("plan", "Down scripts if all exist (and not method=restore), else the last recorded backup", plan),
    runbook.gate("confirm", "Ask the operator", confirm),
    runbook.step("pause", "Pause workers and enter maintenance mode (environment hooks)", hooks.pause),
    runbook.step("rollback", "Run the down scripts, or restore into a fresh database and switch", rollback),
    runbook.step("verify", "The ledger must be consistent with the schema; no invalid indexes", verify),
    runbook.step("resume", "Leave maintenance mode and resume workers", hooks.resume),
  },
  on_failure = function(ctx) hooks.resume(ctx) end,
}
