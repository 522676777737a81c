-- apply.lua — apply pending database migrations safely.
--
-- The procedure of seeds 001, 002 and 004, in order: pre-flight (connectivity, ledger parity,
-- pending SQL for review with lint, extensions, long transactions and connections, disk space
-- for the backup), confirmation, maintenance hooks, backup, apply under an advisory lock,
-- post-verify, resume hooks (also when something fails).
-- Policies are compositions of this file: apply-prod.lua, apply-staging.lua.
local runbook = require "runbook"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"
local backup = require "lib.backup"
local hooks = require "lib.hooks"
local checks = require "lib.checks"
local receipts = require "lib.receipts"

return runbook.define {
  name = "apply",
  description = "Apply pending migrations: pre-flight, confirmation, backup, apply under a lock, post-verify",
  params = {
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    { name = "target", type = "string", help = "stop after this version or migration (default: all pending)" },
    { name = "lock_timeout", type = "duration", default = "30s", help = "lock_timeout for each migration" },
    { name = "statement_timeout", type = "duration", default = "0", help = "statement_timeout for each migration (0: none)" },
    { name = "lock_wait", type = "duration", default = "60s", help = "how long to wait for another runner's lock" },
    { name = "allow_drift", type = "boolean", default = false, help = "apply although parity fails (deliberate override)" },
    { name = "rehearse_on", type = "enum", choices = { "shadow", "target" }, default = "shadow",
      help = "--rehearse on a shadow (an ephemeral copy of the schema) or on the target in a rolled-back transaction (disposable environments only)" },
    migrate.LEDGER_PARAM,
    migrate.LAYOUT_PARAM,
    { name = "backup_dir", type = "string", help = "where backups go (default: the environment's, else .runbook/backups)" },
    { name = "backup_verify", type = "enum", choices = { "read", "restore" },
      help = "read the backup back whole, or also restore it into an ephemeral cluster and compare row counts (default: the environment's, else read)" },
  },
  settings = {
    confirm = false,                  -- a typed token such as "PROD-OK"; false asks a plain yes/no question
    backup = "optional",              -- "required", "optional" or "skip"; the environment can only make it stricter
    maintenance = false,              -- run the pause/maintenance hooks around the apply
    acknowledge_destructive = false,  -- destructive lint findings need an explicit yes
    checklist = {},                   -- human items a person ticks at the confirmation (--check ID); none here
  },
  steps = {
    runbook.gate("connect", "Connect to the database and show the server", preflight.connect),
    runbook.gate("parity", "The plan: ledger parity and what will run; takes the migration lock if anything will change", migrate.parity),
    runbook.step("review", "Show the planned SQL and its lint findings", preflight.review),
    runbook.step("preflight", "Extensions available, long transactions, connections, disk space", preflight.server),
    runbook.gate("rehearsed", "Window estimate from the latest rehearsal; the environment's require_rehearsal and min_soak", receipts.gate),
    runbook.gate("confirm", "The policy's checklist, each destructive finding acknowledged, then the token or question of the policy", migrate.confirm),
    -- A gate: a policy that requires maintenance is met only by running it, and then resume
    -- must run too.
    runbook.gate("pause", "Pause workers and enter maintenance mode (environment hooks), if the policy asks and anything is pending",
      migrate.when_pending(hooks.pause)),
    runbook.gate("backup", "pg_dump -Fc, read back whole with pg_restore, size and SHA-256 recorded, if anything is pending",
      migrate.when_pending(backup.take)),
    runbook.step("apply", "Apply exactly the plan; the engine refuses if the policy's requirements were not met", migrate.apply),
    runbook.step("verify", "Post-verify: parity, connections, long transactions, invalid indexes, expected objects, health", checks.verify_all),
    runbook.gate("resume", "Leave maintenance mode and resume workers (what this run paused)", hooks.resume),
  },
  -- Workers paused by this run are resumed whatever happened after (a run that never got
  -- the migration lock paused nothing, so resumes nothing); then what to do next.
  on_failure = function(ctx)
    local ok, err = pcall(hooks.resume, ctx)
    migrate.next_steps(ctx)
    if not ok then error(err, 0) end
  end,
}
