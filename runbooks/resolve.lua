-- resolve.lua — after a manual repair, mark a migration applied or rolled back in the ledger
-- (seed 002 "mark as applied after manual fix", seed 004 "prisma migrate resolve").
-- Typical use: a CREATE INDEX CONCURRENTLY migration failed and is dirty; drop the invalid
-- index by hand, then `runbook resolve.lua --set migration=0011 --set as=rolled-back`.
local runbook = require "runbook"
local migrations = require "migrations"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"

return runbook.define {
  name = "resolve",
  description = "Mark a migration as applied or rolled back after a manual repair",
  params = {
    { name = "migration", type = "string", required = true, help = "migration name or version" },
    { name = "as", type = "enum", choices = { "applied", "rolled-back" }, required = true, help = "what the repair achieved" },
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    migrate.LEDGER_PARAM,
    migrate.LAYOUT_PARAM,
  },
  settings = { confirm = false },
  steps = {
    runbook.gate("connect", "Connect to the database", preflight.connect),
    runbook.step("show", "Show the migration's ledger state", function(ctx)
      local st = migrate.status(ctx)
      for _, d in ipairs(st.dirty) do
        ctx:log("dirty: %s failed at statement %d after %d ran: %s", d.filename, d.failed_statement, d.statements_done, d.error)
      end
      ctx:log("%s", migrate.summary(st))
    end),
    runbook.gate("confirm", "Ask the operator", function(ctx)
      migrate.ask(ctx, string.format("Mark %s as %s in %s?", ctx.params.migration, ctx.params.as, tostring(ctx:db())))
    end),
    runbook.step("resolve", "Record the decision in the ledger", function(ctx)
      migrations.resolve(ctx:db(), migrate.chain(ctx), ctx.params.migration, ctx.params.as, migrate.ledger_opts(ctx))
    end),
    runbook.step("status", "Ledger status after", function(ctx) ctx:log("%s", migrate.summary(migrate.status(ctx))) end),
  },
}
