-- post-verify.lua — verify a database after a change (seed 001 "Post-apply verification",
-- seed 004 "Post-Migration Verification", seed 000 parity gate).
-- Prints a table of check, result, detail; exits 4 (verification failed) if any check fails.
-- The checks come from the environment: expected_tables, expected_indexes, smoke_sql (with
-- expect), compare (against the values the newest live apply read before it changed anything),
-- health_checks, max_connections, long_transaction. With --set watch=30min (and every=1min) the
-- smoke and health checks are repeated for that window afterwards (seed 001: watch 30-60 min).
local runbook = require "runbook"
local preflight = require "lib.preflight"
local checks = require "lib.checks"
local migrate = require "lib.migrate"

return runbook.define {
  name = "post-verify",
  description = "Verify a database: parity, connections, long transactions, invalid indexes, expected objects, smoke SQL, HTTP health",
  params = {
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory (for parity)" },
    { name = "watch", type = "duration", default = "0", help = "after the verdict, repeat the smoke and health checks for this long (30min, 24h; 0: no watch)" },
    { name = "every", type = "duration", default = "1min", help = "how often the watch repeats them" },
    migrate.LEDGER_PARAM,
    migrate.LAYOUT_PARAM,
  },
  steps = {
    runbook.step("connect", "Connect to the database", preflight.connect),
    runbook.step("database", "Ledger parity, connections, long transactions, invalid indexes, expected tables and indexes, smoke SQL",
      function(ctx) checks.run(ctx, checks.database_checks(ctx)) end),
    runbook.step("http", "HTTP health and JSON checks from the environment",
      function(ctx) checks.run(ctx, checks.http_checks(ctx)) end),
    runbook.step("verdict", "Print the results; any FAIL fails the run", checks.verdict),
    runbook.step("watch", "The monitoring window: smoke and health checks every `every` for `watch`; any failing round fails the run", checks.watch),
  },
}
