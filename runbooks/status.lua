-- status.lua — what is applied, pending, drifted or dirty, who holds the migration lock, and
-- how the last run here ended: the look before (or during) an operation.
-- No gates, no confirmation, no run record (--json streams its status event); a read-only session.
-- Exit 0 up to date, 5 migrations pending, 4 drift or a dirty migration.
local runbook = require "runbook"
local migrations = require "migrations"
local migrate = require "lib.migrate"
local records = require "lib.records"

local function list(names, limit)
  limit = limit or 10
  local shown = {}
  for i = 1, math.min(#names, limit) do shown[i] = names[i] end
  return table.concat(shown, ", ") .. (#names > limit and string.format(" and %d more", #names - limit) or "")
end

--- The newest run record in the journal directory for this database, any runbook and mode.
local function last_run(ctx)
  local here = records.this_database(ctx)
  return records.newest(ctx, function(rec) return records.database_key(rec.database) == here end,
    { "run_id", "runbook", "status", "mode", "environment", "started_at", "exit_code", "database" })
end

local function status(ctx)
  local st = migrate.status(ctx)
  local holder = migrations.lock_holder(ctx:db(), migrate.ledger_opts(ctx))
  local last = last_run(ctx)
  local applied_last = st.applied[#st.applied]
  ctx:log("applied: %d%s", #st.applied, applied_last and (" (last " .. applied_last .. ")") or "")
  ctx:log("pending: %d%s", #st.pending, #st.pending > 0 and (": " .. list(st.pending)) or "")
  for _, d in ipairs(st.drift) do ctx:warn("drift: %s", d) end  -- dirty migrations included
  for _, row in ipairs(st.dirty) do
    ctx:log("next, once %s is repaired: runbook resolve.lua --set migration=%s --set as=applied (or as=rolled-back)",
      row.filename, row.filename)
  end
  ctx:log("migration lock: %s", holder and ("held by " .. holder) or "free")
  if last then
    ctx:log("last run: %s %s (%s, %s) %s, exit %s", last.runbook or "?", last.status or "?", last.mode or "?",
      last.environment or "no environment", last.started_at or "?", tostring(last.exit_code or "-"))
  else
    ctx:log("last run: none recorded in %s", ctx.journal_dir ~= "" and ctx.journal_dir or "(no journal directory)")
  end
  local function filenames(rows)
    local out = {}
    for _, r in ipairs(rows) do out[#out + 1] = r.filename end
    return out
  end
  local mismatches = {}
  for _, m in ipairs(st.hash_mismatches) do
    mismatches[#mismatches + 1] = { filename = m.filename, ledger_sha256 = m.ledger_sha256, file_sha256 = m.file_sha256 }
  end
  -- The parity categories by name too: `runbook serve` answers seed 000's endpoint from them.
  ctx:record("status", {
    applied = #st.applied, last_applied = applied_last, pending = st.pending, drift = st.drift,
    missing_in_db = st.missing_in_db, extra_in_db = filenames(st.extra_in_db), hash_mismatches = mismatches,
    dirty = filenames(st.dirty),
    parity = st.parity, lock_holder = holder,
    last_run = last and { run_id = last.run_id, runbook = last.runbook, status = last.status, mode = last.mode,
      environment = last.environment, started_at = last.started_at, exit_code = last.exit_code } or nil,
  })
  if st.parity ~= "PASS" then
    ctx:verify_failed(string.format("the ledger has drifted from %s (%d problem(s) above)%s", ctx.params.migrations,
      #st.drift, #st.dirty > 0 and "; repair each dirty migration, then resolve it" or ""))
  end
  if #st.pending > 0 then
    ctx:log("next: runbook apply.lua (dry-run first: --dry-run)")
    ctx:conclude("pending")
  else
    ctx:log("up to date")
  end
end

return runbook.define {
  name = "status",
  description = "Applied, pending, drift, dirty, the lock holder and the last run; exit 0 up to date, 5 pending, 4 drift",
  params = {
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    migrate.LEDGER_PARAM,
    migrate.LAYOUT_PARAM,
  },
  settings = { record = false, read_only = true },
  steps = {
    runbook.step("status", "Compare the chain with the ledger; the lock holder; the last run", status),
  },
}
