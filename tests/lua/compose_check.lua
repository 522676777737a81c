-- compose_check.lua — a NEW runbook composed from the shipped library steps (test fixture for
-- tests/integration/test_runbooks_cli.cpp): connect, ledger parity, a required backup, a custom
-- check of our own, and the shared verdict (exit 4 when a check fails).
local runbook = require "runbook"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"
local backup = require "lib.backup"
local checks = require "lib.checks"

local function ledger_rows(ctx)
  local n = ctx:db():value("SELECT count(*) FROM schema_migrations WHERE status = $1", "applied")
  local r = {
    name = "ledger rows",
    result = n >= ctx.params.min_rows and "PASS" or "FAIL",
    detail = string.format("%d applied rows (need at least %d)", n, ctx.params.min_rows),
  }
  ctx.state.checks = ctx.state.checks or {}
  ctx.state.checks[#ctx.state.checks + 1] = r
  ctx:record("check", r)
end

return runbook.define {
  name = "compose-check",
  description = "Parity, a backup and a custom ledger check, from the shipped library",
  params = {
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    { name = "ledger", type = "string", default = "public.schema_migrations", help = "ledger table" },
    { name = "backup_dir", type = "string", help = "where the backup goes" },
    { name = "min_rows", type = "integer", default = 1, help = "applied ledger rows needed" },
  },
  settings = { backup = "required" },
  steps = {
    runbook.step("connect", "Connect to the database", preflight.connect),
    runbook.step("parity", "Ledger parity", migrate.parity),
    runbook.step("backup", "pg_dump backup", backup.take),
    runbook.step("ledger_rows", "Custom check: enough applied ledger rows", ledger_rows),
    runbook.step("verdict", "Table of results", checks.verdict),
  },
}
