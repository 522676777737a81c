-- Rehearsal on a shadow (seeds 003 and 004: "rehearse on staging for timing estimates").
-- The target's schema and ledger rows are copied into an ephemeral PostgreSQL cluster of the
-- target's major version, and the pending chain is applied there for real — CONCURRENTLY and
-- own-transaction files included — timing each migration and recording the table locks it took
-- and the tables it rewrote. Nothing runs on the target but the reads of pg_dump. The cluster
-- is stopped and deleted at the end, also on a failure or ^C.
local catalog = require "catalog"
local db = require "db"
local migrations = require "migrations"
local migrate = require "lib.migrate"

local M = {}

--- The ledger tables whose rows the shadow needs: runbook's own and, in compatibility mode,
--- the tool's.
local function ledger_tables(ctx)
  local own, tool = migrations.ledger_table(ctx.params.ledger)
  local tables = { own }
  if tool then tables[#tables + 1] = tool:match("^%S+%s+(.+)$") end
  return tables
end

local function same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

--- What one migration did, for the lock report: "ACCESS EXCLUSIVE on public.users (rewritten)".
function M.effects_line(o)
  local parts, rewritten = {}, {}
  for _, t in ipairs(o.rewritten or {}) do rewritten[t] = true end
  for _, l in ipairs(o.locks or {}) do
    if not l.created then
      parts[#parts + 1] = l.mode .. " on " .. l.relation .. (rewritten[l.relation] and " (rewritten)" or "") ..
        (l.sampled and " (sampled)" or "")
    end
  end
  return #parts > 0 and table.concat(parts, ", ") or "no lock on an existing table"
end

--- Rehearses this run's plan on a shadow; returns the outcomes and records a "rehearsal" event
--- saying what was proven where.
function M.on_shadow(ctx)
  local plan = migrate.plan(ctx)
  local target = ctx:db()
  local major = math.floor(target:server_version() / 10000)
  local cluster = db.ephemeral { version = major }
  local info = cluster:info()
  local ok, result = pcall(function()
    local copy = cluster:load_schema_of(target, { data = ledger_tables(ctx) })
    ctx:log("shadow: ephemeral PostgreSQL %s; the schema of %s and its ledger rows copied in %.0f ms",
      info.version, copy.database, copy.ms)
    local shadow = cluster:connect(copy.database)
    local chain = migrate.chain(ctx)
    local shadow_plan = migrations.plan(shadow, chain, migrate.ledger_opts(ctx, {
      kind = "apply", target = ctx.params.target, allow_drift = ctx.params.allow_drift,
    }))
    if not same(shadow_plan:names(), plan:names()) then
      ctx:fail(string.format("the shadow of %s plans %d migration(s) (%s) where the target plans %d (%s): its ledger " ..
        "was not copied as it is. Nothing was changed.", copy.database, shadow_plan:count(),
        table.concat(shadow_plan:names(), ", "), plan:count(), table.concat(plan:names(), ", ")))
    end
    local outcomes = migrations.apply(shadow, chain, shadow_plan, {
      lock_timeout = ctx.params.lock_timeout,
      statement_timeout = ctx.params.statement_timeout ~= "0" and ctx.params.statement_timeout or nil,
      record_effects = true,
    })
    -- The schema the chain leaves, with the ledger position it belongs to: what a live apply of
    -- the same files on this database is expected to leave (checks "schema as rehearsed").
    local st = migrations.status(shadow, chain, migrate.ledger_opts(ctx))
    local schema = catalog.snapshot(shadow)
    schema.applied_count, schema.last_applied = #st.applied, st.applied[#st.applied]
    shadow:close()
    return { outcomes = outcomes, copy = copy, schema = schema }
  end)
  cluster:stop()
  if not ok then
    if type(result) == "table" and type(result.message) == "string" and not result.stopped then
      result.message = "on the shadow of " .. target:database() .. ": " .. result.message ..
        "\n  Nothing ran on " .. target:database() .. "; fix the migration and rehearse again."
    end
    error(result, 0)
  end

  local total, report, files = 0, {}, {}
  for _, o in ipairs(result.outcomes) do
    total = total + o.ms
    files[#files + 1] = { name = o.name, sha256 = o.sha256 }
    report[#report + 1] = { name = o.name, sha256 = o.sha256, ms = o.ms, transactional = o.transactional,
      locks = o.locks or {}, rewritten = o.rewritten or {} }
  end
  ctx:log("rehearsal: %d migration(s) applied on the shadow in %.0f ms; nothing ran on %s", #result.outcomes, total,
    target:database())
  ctx:log("lock report (what each migration would hold on %s):", result.copy.database)
  for _, o in ipairs(result.outcomes) do
    ctx:log("  %-40s %8.1f ms  %s", o.name, o.ms, M.effects_line(o))
  end
  ctx:record("rehearsal", {
    where = "shadow",
    proven = string.format("the pending SQL against the schema of %s (no rows but the ledger's) on an ephemeral " ..
      "PostgreSQL %s; times are for empty tables", result.copy.database, info.version),
    server = info.version, database = result.copy.database, migrations = report, files = files, ms = total,
  })
  ctx:record("rehearsed_schema", result.schema)
  return result.outcomes
end

return M
