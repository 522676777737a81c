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

local function same_set(a, b)
  if #a ~= #b then return false end
  local seen = {}
  for _, x in ipairs(a) do seen[x] = true end
  for _, x in ipairs(b) do if not seen[x] then return false end end
  return true
end

-- Decides between down scripts and a restore, and says why. The engine's rollback plan names
-- the migrations and which have no down script. A restore is only chosen by itself when it
-- undoes exactly what was asked: the migrations the ledger records after the backup must be
-- the requested ones, nothing more.
local function plan(ctx)
  local chain = migrate.chain(ctx)
  local method = ctx.params.method
  local p = migrate.adopt(ctx, migrations.plan(ctx:db(), chain, migrate.ledger_opts(ctx,
    { kind = "rollback", count = ctx.params.count, to = ctx.params.to })))
  local requested = p:names()
  if #requested == 0 then
    ctx.state.method = "down"
    ctx:log("nothing to roll back")
    return
  end
  local missing = p:missing_down()
  if method ~= "restore" then
    if #missing == 0 then
      ctx.state.method = "down"
      ctx:log("plan: run the down scripts of %s (newest first)", table.concat(requested, ", "))
      migrate.lock(ctx)
      return
    end
    local why = "cannot roll back with down scripts: these migrations have none: " .. table.concat(missing, ", ")
    if method == "down" then ctx:fail(why .. "\n  Restore from the backup instead (--set method=restore), or write a forward fix.") end
    ctx:warn("%s", why)
  end
  local name = database.current(ctx)
  local b = backup.latest(ctx, name)
  if not b then
    ctx:fail("no backup of " .. name .. " recorded in the run records under " .. ctx.journal_dir ..
      "; restore by hand from your provider's snapshot (seed 001, rollback option 2)")
  end
  local undone = backup.undone_by(ctx, b)
  if not same_set(undone, requested) then
    local why = string.format("restoring %s (taken %s by run %s) would undo %d migration(s): %s; you asked for %s",
      b.path, b.taken_at, b.run_id, #undone, #undone > 0 and table.concat(undone, ", ") or "none",
      table.concat(requested, ", "))
    if method ~= "restore" then
      ctx:fail(why .. ".\n  Nothing was changed. Pass --set method=restore to restore that backup anyway, or write a forward fix.")
    end
    ctx:warn("%s", why)
  end
  ctx.state.method, ctx.state.backup, ctx.state.undone = "restore", b, undone
  ctx:log("plan: restore %s (taken %s by run %s of %s, sha256 %s), undoing %s; the current database is kept under another name",
    b.path, b.taken_at, b.run_id, b.runbook, b.sha256, #undone > 0 and table.concat(undone, ", ") or "no migrations")
end

local function confirm(ctx)
  local p = ctx.state.plan
  if p:empty() then return end
  local what = ctx.state.method == "down"
    and string.format("Roll back %d migration(s) with their down scripts on %s?", p:count(), tostring(ctx:db()))
    or string.format("Restore %s over %s? It undoes %s and replaces everything written since %s.",
      ctx.state.backup.path, tostring(ctx:db()), #ctx.state.undone > 0 and table.concat(ctx.state.undone, ", ") or "no migrations",
      ctx.state.backup.taken_at)
  p:confirm(what)
end

local function rollback(ctx)
  local p = ctx.state.plan
  if p:empty() then return end
  if ctx.state.method == "down" then
    migrations.rollback(ctx:db(), migrate.chain(ctx), p, {
      lock_timeout = ctx.params.lock_timeout, lock_wait = runbook.seconds(ctx.params.lock_wait),
    })
  else
    -- The restore is no engine rollback, but it answers to the same plan and policy.
    p:require_met("restore " .. ctx.state.backup.path)
    backup.restore(ctx, ctx.state.backup)
  end
end

-- After the rollback, the ledger first (a drifted one says the rollback itself went wrong),
-- then the whole post-verify of the environment, as after an apply (seed 001 verifies after
-- either): the schema against the one recorded at this ledger position, orphans, NOT VALID
-- constraints, smoke SQL, health. The schema it leaves is what post-verify expects next.
local function verify(ctx)
  if ctx.dry_run then
    ctx:log("dry-run: nothing was rolled back")
    return
  end
  local st = migrate.status(ctx)
  ctx.state.status = st
  ctx:log("after rollback: %s", migrate.summary(st))
  local ledger = { name = "ledger consistent", result = st.parity, detail = migrate.summary(st) }
  ctx:record("check", ledger)
  if st.parity ~= "PASS" then ctx:verify_failed("after rollback the ledger has drifted:\n  - " .. table.concat(st.drift, "\n  - ")) end
  ctx.state.checks = { ledger }
  -- The rolled-back migrations are pending again: that is the point, not a parity failure.
  checks.run(ctx, checks.database_checks(ctx, { parity = false }))
  checks.run(ctx, checks.http_checks(ctx))
  -- Recorded after the checks (which compare with the earlier expectation) and before the
  -- verdict; only a run that succeeds is believed later (lib/records.lua).
  if not ctx.state.plan:empty() then migrate.record_expected_schema(ctx, st, true) end
  checks.verdict(ctx)
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
    migrate.LEDGER_PARAM,
    migrate.LAYOUT_PARAM,
    { name = "lock_timeout", type = "duration", default = "30s", help = "lock_timeout for each down script" },
    { name = "lock_wait", type = "duration", default = "60s", help = "how long to wait for another runner's lock" },
  },
  -- Down scripts drop what the up scripts made: each destructive finding is acknowledged by
  -- name, as in apply-prod (a restore undoes the same migrations, so it asks the same).
  settings = { confirm = false, maintenance = true, acknowledge_destructive = true },
  steps = {
    runbook.gate("connect", "Connect to the database", preflight.connect),
    runbook.gate("plan", "The rollback plan: down scripts if all exist (and not method=restore), else the last recorded backup; takes the lock", plan),
    runbook.gate("review", "Show the down scripts and their lint findings", preflight.review),
    runbook.gate("confirm", "Acknowledge each destructive finding of the down scripts, then ask the operator", confirm),
    runbook.gate("pause", "Pause workers and enter maintenance mode (environment hooks), if anything will be rolled back",
      function(ctx) if not ctx.state.plan:empty() then hooks.pause(ctx) end end),
    runbook.step("rollback", "Run the down scripts, or restore into a fresh database and switch", rollback),
    runbook.step("verify", "The ledger consistent, then the whole post-verify of the environment (schema, orphans, smoke SQL, health)", verify),
    runbook.gate("resume", "Leave maintenance mode and resume workers (what this run paused)", hooks.resume),
  },
  on_failure = function(ctx) hooks.resume(ctx) end,  -- only what this run paused
}
