-- apply.lua — apply pending database migrations safely.
--
-- Replaces the "how to apply" sections of seeds 001, 002 and 004: check status and parity,
-- review what is pending, confirm, apply under a lock, verify parity afterwards.
-- Compose it for your own policy (see apply-prod.lua, docs/authoring.md).
local runbook = require "runbook"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"

return runbook.define {
  name = "apply",
  description = "Apply pending migrations: pre-flight, confirmation, apply under a lock, parity after",
  params = {
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    { name = "target", type = "string", help = "stop after this version or migration (default: all pending)" },
    { name = "lock_timeout", type = "duration", default = "30s", help = "lock_timeout for each migration" },
    { name = "statement_timeout", type = "duration", default = "0", help = "statement_timeout for each migration (0: none)" },
    { name = "lock_wait", type = "duration", default = "60s", help = "how long to wait for another runner's lock" },
    { name = "allow_drift", type = "boolean", default = false, help = "apply although parity fails (deliberate override)" },
    { name = "ledger", type = "string", default = "public.schema_migrations", help = "ledger table (schema.table)" },
  },
  settings = {
    confirm = false, -- a typed token such as "PROD-OK"; false asks a plain yes/no question
  },
  steps = {
    runbook.step("connect", "Connect to the database and show the server", preflight.connect),
    runbook.step("parity", "Ledger parity and the pending migrations", migrate.parity),
    runbook.step("confirm", "Ask the operator before anything changes", migrate.confirm),
    runbook.step("apply", "Apply the pending migrations under the advisory lock", migrate.apply),
    runbook.step("verify", "Parity after apply must PASS with nothing pending", migrate.verify),
  },
}
