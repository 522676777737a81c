-- adopt.lua — stop using another migration tool without a flag day: read its ledger, check
-- every migration it recorded against the files (its checksum, where it keeps one), and
-- baseline runbook's own ledger from it. The tool's table is only read. Dry-run shows it all.
-- Keeping the tool instead (the application still runs it at start-up): --set ledger=TOOL on
-- every runbook, no adoption needed (docs/adoption.md).
local runbook = require "runbook"
local migrations = require "migrations"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"

local function tool_names()
  local out = {}
  for _, t in ipairs(migrations.tool_ledgers()) do out[#out + 1] = t.name end
  return table.concat(out, ", ")
end

-- runbook's ledger: as given, else the default, else beside a tool that uses the default's name.
local function own_ledger(ctx)
  if ctx.params.ledger ~= "" then return ctx.params.ledger end
  local _, tool = migrations.ledger_table(ctx.params.tool)
  if tool and tool:match(" public%.schema_migrations$") then return "public.runbook_ledger" end
  return "public.schema_migrations"
end

local function chain(ctx)
  if not ctx.state.chain then
    -- The tool's layout rules unless a layout is chosen: its files are its migrations.
    local layout = ctx.params.layout
    ctx.state.chain = migrations.load(ctx.params.migrations, { layout = layout ~= "" and layout or nil,
      ledger = ctx.params.tool })
    ctx:log("loaded %d migration(s) from %s (%s layout)", #ctx.state.chain:list(), ctx.params.migrations,
      ctx.state.chain:layout())
  end
  return ctx.state.chain
end

local function list(ctx, what, names)
  if #names == 0 then return end
  ctx:log("%s (%d):", what, #names)
  for _, n in ipairs(names) do ctx:log("  - %s", n) end
end

local function read(ctx)
  -- Always a read-only pass first: what adoption would record, and what keeps it from being exact.
  local report = migrations.adopt(ctx:db(), chain(ctx), { tool = ctx.params.tool, ledger = own_ledger(ctx),
    dry = true })
  ctx.state.report = report
  ctx:log("%s's ledger %s against %s; runbook's ledger: %s", report.tool, report.tool_table, ctx.params.migrations,
    report.ledger)
  list(ctx, "match the files and will be recorded", report.matched)
  list(ctx, "already in runbook's ledger", report.already)
  list(ctx, "pending (the tool has not applied them)", report.pending)
  list(ctx, "edited since the tool applied them", report.differs)
  list(ctx, "failed in the tool's ledger", report.failed)
  list(ctx, "recorded by the tool but not in the directory", report.unknown)
  ctx:record("check", { name = "adopt", result = #report.blockers == 0 and "PASS" or "FAIL",
    detail = string.format("%d to record, %d pending, %d blocking", #report.matched, #report.pending, #report.blockers) })
  if #report.blockers > 0 then
    ctx:verify_failed("adoption would not be exact:\n  - " .. table.concat(report.blockers, "\n  - ") ..
      "\n  Fix these first (restore the edited files, repair the failed migration and resolve it with the tool), " ..
      "then run adopt.lua again. Nothing was written.")
  end
end

local function confirm(ctx)
  migrate.ask(ctx, string.format("Record %d migration(s) from %s's ledger in %s (%s)?", #ctx.state.report.matched,
    ctx.state.report.tool, ctx.state.report.ledger, tostring(ctx:db())))
end

local function record(ctx)
  if ctx.dry_run then
    ctx:log("dry-run: would record %d migration(s) in %s", #ctx.state.report.matched, ctx.state.report.ledger)
    return
  end
  local report = migrations.adopt(ctx:db(), chain(ctx), { tool = ctx.params.tool, ledger = own_ledger(ctx) })
  ctx:log("recorded %d migration(s) in %s", #report.recorded, report.ledger)
end

local function verify(ctx)
  if ctx.dry_run then return end
  local st = migrations.status(ctx:db(), chain(ctx), { ledger = own_ledger(ctx) })
  ctx:record("check", { name = "parity after adopt", result = st.parity, detail = migrate.summary(st) })
  if st.parity ~= "PASS" then ctx:verify_failed("after adopt: " .. table.concat(st.drift, "; ")) end
  local next_cmd = own_ledger(ctx) == "public.schema_migrations" and "runbook apply.lua" or
    ("runbook apply.lua --set ledger=" .. own_ledger(ctx))
  ctx:log("adopted: %s. From now on: %s (%d pending). %s's table is left as it was.", migrate.summary(st), next_cmd,
    #st.pending, ctx.params.tool)
end

return runbook.define {
  name = "adopt",
  description = "Adopt a database another tool migrates: check its ledger against the files, baseline runbook's ledger from it",
  params = {
    { name = "tool", type = "string", required = true, help = "the tool whose ledger to read: " .. tool_names() ..
      " (or tool:schema.table)" },
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    { name = "ledger", type = "string", default = "", help = "runbook's ledger to write (default public.schema_migrations, or public.runbook_ledger beside golang-migrate's or dbmate's schema_migrations)" },
    migrate.LAYOUT_PARAM,
  },
  settings = { confirm = false },
  steps = {
    runbook.gate("connect", "Connect to the database", preflight.connect),
    runbook.gate("read", "Read the tool's ledger and check it against the files", read),
    runbook.gate("confirm", "Ask the operator", confirm),
    runbook.step("record", "Baseline runbook's ledger from the tool's", record),
    runbook.step("verify", "Parity PASS on runbook's ledger; say what to run next", verify),
  },
}
