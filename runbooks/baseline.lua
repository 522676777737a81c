-- baseline.lua — adopt an existing database: record every migration up to a version as
-- applied without running it (the schema already has them), so apply starts after it.
local runbook = require "runbook"
local migrations = require "migrations"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"

return runbook.define {
  name = "baseline",
  description = "Adopt an existing database: mark migrations up to a version as applied without running them",
  params = {
    { name = "version", type = "string", required = true, help = "last migration the database already has" },
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    migrate.LEDGER_PARAM,
    migrate.LAYOUT_PARAM,
  },
  settings = { confirm = false },
  steps = {
    runbook.gate("connect", "Connect to the database", preflight.connect),
    runbook.gate("confirm", "Ask the operator", function(ctx)
      migrate.ask(ctx, string.format("Record migrations up to %s as applied in %s without running them?",
        ctx.params.version, tostring(ctx:db())))
    end),
    runbook.step("baseline", "Record them in the ledger", function(ctx)
      migrations.baseline(ctx:db(), migrate.chain(ctx), ctx.params.version, migrate.ledger_opts(ctx))
    end),
    runbook.step("status", "Ledger status after", function(ctx) ctx:log("%s", migrate.summary(migrate.status(ctx))) end),
  },
}
