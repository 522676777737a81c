-- staging-rebuild.lua — seed 000 on any PostgreSQL: rebuild a disposable database from the
-- migration chain so its ledger is deterministic again, then enforce parity.
-- Refuses unless the environment is marked disposable. Takes a pg_dump snapshot first, builds
-- the whole chain into a fresh database, switches it in place, and fails closed unless parity
-- PASSes (missing in DB, extra in DB, hash mismatches all empty) and the optional HTTP parity
-- endpoint (environment parity_url) agrees.
-- The AWS variant (RDS snapshot, Secrets Manager, ECS) is examples/staging-rebuild-aws.lua.
local runbook = require "runbook"
local migrations = require "migrations"
local db = require "db"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"
local backup = require "lib.backup"
local database = require "lib.database"
local checks = require "lib.checks"

local function guard(ctx)
  if not ctx.env then
    ctx:config_error("staging-rebuild needs --env NAME: an environment marked disposable = true in the environments file")
  end
  if ctx.env.disposable ~= true then
    ctx:config_error("environment " .. ctx.env.name .. " is not marked disposable = true: refusing to rebuild its database")
  end
  ctx:log("environment %s is disposable", ctx.env.name)
end

local function snapshot(ctx)
  local name = database.current(ctx)
  local file = backup.dir(ctx) .. "/" .. backup.file_stem(name) .. "-" .. ctx.run_id .. "-pre-rebuild.dump"
  require("files").mkdir(backup.dir(ctx))  -- 0700 where it creates; an existing directory keeps its mode
  ctx.state.backup = backup.dump(ctx, file)
end

local function confirm(ctx)
  local n = #migrate.chain(ctx):list()
  migrate.ask(ctx, string.format("Replace %s with a fresh database built from %d migration(s)?", tostring(ctx:db()), n))
end

local function rebuild(ctx)
  local chain = migrate.chain(ctx)
  local name = database.current(ctx)
  local fresh = name .. "_rebuild_" .. ctx.run_id:gsub("%W", ""):sub(-6)
  if ctx.dry_run then
    ctx:log("would create database %s, apply all %d migration(s) into it, switch it in place of %s and drop the old one",
      fresh, #chain:list(), name)
    return
  end
  local admin = database.admin(ctx)
  database.create(ctx, admin, fresh)
  local conn = db.connect { url = ctx:database_url(), dbname = fresh, application_name = "runbook " .. ctx.runbook }
  local ok, err = pcall(migrate.apply_on, ctx, conn)
  conn:close()
  if not ok then
    admin:exec("DROP DATABASE IF EXISTS " .. database.quote_ident(admin, fresh))
    error(err, 0) -- the current database was not touched
  end
  database.switch(ctx, admin, name, fresh)
  admin:close()
end

local function parity(ctx)
  if ctx.dry_run then
    ctx:log("dry-run: current %s", migrate.summary(migrate.status(ctx)))
    return
  end
  local list = { function() return checks.parity(ctx) end, function() return checks.invalid_indexes(ctx) end }
  if ctx.env.parity_url then
    list[#list + 1] = function()
      return checks.http(ctx, { name = "parity endpoint", url = ctx.env.parity_url, json = { ["parity.status"] = "PASS" } })
    end
  end
  checks.run(ctx, list)
  checks.verdict(ctx)
end

return runbook.define {
  name = "staging-rebuild",
  description = "Rebuild a disposable database from the migration chain; parity must PASS (seed 000)",
  params = {
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    migrate.LEDGER_PARAM,
    migrate.LAYOUT_PARAM,
    { name = "lock_timeout", type = "duration", default = "30s", help = "lock_timeout for each migration" },
    { name = "backup_dir", type = "string", help = "where the snapshot goes (default: the environment's, else .runbook/backups)" },
  },
  steps = {
    runbook.gate("guard", "Refuse unless the environment is marked disposable", guard),
    runbook.gate("connect", "Connect to the database", preflight.connect),
    runbook.gate("snapshot", "pg_dump snapshot first: a rollback point even for staging", snapshot),
    runbook.gate("confirm", "Ask the operator", confirm),
    runbook.step("rebuild", "Build the whole chain into a fresh database and switch it in place", rebuild),
    runbook.step("parity", "Parity must PASS, and the HTTP parity endpoint must agree", parity),
  },
}
