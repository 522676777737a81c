-- Steps around the migration chain: the plan, parity, confirmation, apply, verify.
-- Used by apply.lua and everything composed from it.
--
-- What a run changes is decided once, by the engine: `migrations.plan` reads the chain and
-- the ledger and returns the plan (the migrations to run, each parsed once, with its lint
-- findings; the ledger fingerprint; the run's policy). Every step below reads that one plan,
-- and `migrations.apply` applies exactly it — or refuses when the ledger moved or the
-- policy's requirements (confirmation, acknowledgements, backup, maintenance) were not met
-- in this run, whichever steps ran.
local migrations = require "migrations"
local catalog = require "catalog"
local runbook = require "runbook"
local sql = require "sql"

local M = {}

local function ledger_opts(ctx, extra)
  local o = { ledger = ctx.params.ledger }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end
M.ledger_opts = ledger_opts

--- The `layout` parameter every runbook that loads a chain takes; the names are the engine's.
M.LAYOUT_PARAM = (function()
  local names = {}
  for _, l in ipairs(migrations.layouts()) do names[#names + 1] = l.name end
  return { name = "layout", type = "string", default = "",
    help = "migration layout (default: detected): " .. table.concat(names, ", ") }
end)()

--- The `ledger` parameter: runbook's own table, or a tool whose ledger runbook keeps in step.
M.LEDGER_PARAM = (function()
  local tools = {}
  for _, t in ipairs(migrations.tool_ledgers()) do tools[#tools + 1] = t.name end
  return { name = "ledger", type = "string", default = "",
    help = "ledger table (schema.table; default public.schema_migrations), or a tool whose ledger to keep in step: " ..
      table.concat(tools, ", ") }
end)()

--- The chain of this run, loaded (read and hashed) once.
function M.chain(ctx)
  if not ctx.state.chain then
    local layout = ctx.params.layout
    ctx.state.chain = migrations.load(ctx.params.migrations, { layout = layout ~= "" and layout or nil,
      ledger = ctx.params.ledger })
    local chain = ctx.state.chain
    ctx:log("loaded %d migration(s) from %s (%s layout%s; order: %s)", #chain:list(), ctx.params.migrations,
      chain:layout(), (layout or "") ~= "" and ", chosen" or ", detected", chain:ordering())
  end
  return ctx.state.chain
end

--- Ledger status against the chain now: one query.
function M.status(ctx)
  return migrations.status(ctx:db(), M.chain(ctx), ledger_opts(ctx))
end

local function summary(st)
  return string.format("%d applied, %d pending, parity %s", #st.applied, #st.pending, st.parity)
end
M.summary = summary

--- Makes `plan` the plan of this run: checks it against --plan, writes --plan-out, and
--- links it from the run record.
function M.adopt(ctx, plan)
  if ctx.plan_in then
    local diffs = plan:differences(ctx.plan_in)
    if #diffs > 0 then
      ctx:verify_failed(string.format("the saved plan %s is not what would run now:\n  - %s\n  Nothing was changed. " ..
        "Make a new plan (runbook %s --dry-run --plan-out FILE) and have it reviewed again.",
        ctx.plan_in, table.concat(diffs, "\n  - "), ctx.runbook .. ".lua"))
    end
    ctx:log("plan %s: exactly the saved plan %s", plan:id():sub(1, 12), ctx.plan_in)
  end
  if ctx.plan_out then
    plan:save(ctx.plan_out)
    ctx:log("plan %s written to %s", plan:id():sub(1, 12), ctx.plan_out)
  end
  ctx.state.plan = plan
  ctx:note("plan", { id = plan:id(), kind = plan:kind(), migrations = plan:names(), database = plan:database(),
    saved_as = ctx.plan_out, applied_from = ctx.plan_in, policy = plan:policy() })
  return plan
end

--- The apply plan of this run, made once.
function M.plan(ctx)
  if ctx.state.plan then return ctx.state.plan end
  return M.adopt(ctx, migrations.plan(ctx:db(), M.chain(ctx), ledger_opts(ctx, {
    kind = "apply", target = ctx.params.target, allow_drift = ctx.params.allow_drift,
  })))
end

--- Takes the migration lock for this run's plan, before anything changes (pause, backup,
--- apply), and holds it to the end of the run. A run whose plan changes nothing takes no
--- lock; dry-run and rehearsal take none here (a rehearsal locks inside the engine).
function M.lock(ctx)
  local plan = ctx.state.plan or M.plan(ctx)
  if ctx.dry_run or plan:empty() or plan:locked() then return plan end
  local wait = runbook.seconds(ctx.params.lock_wait or "60s")
  if plan:lock(ctx:db(), { wait = wait }) then return plan end
  -- Another runner changed the ledger while this one waited: plan again, under the lock.
  if plan:kind() ~= "apply" or ctx.plan_in then
    ctx:abort("the ledger changed while this run waited for the migration lock; nothing was changed. Run it again.")
  end
  ctx.state.plan = nil
  local fresh = M.plan(ctx)
  if not fresh:empty() then fresh:lock(ctx:db(), { wait = wait }) end
  plan:unlock()
  ctx:log("the ledger changed while waiting for the lock; planned again: %d migration(s)", fresh:count())
  return fresh
end

--- Step: the plan, ledger parity and what will run. Fails verification on drift unless
--- allowed; in a live run with something to change, takes the migration lock.
function M.parity(ctx)
  local plan = M.plan(ctx)
  local st = plan:status()
  ctx.state.status = st
  local own, tool = migrations.ledger_table(ctx.params.ledger)
  ctx:log("ledger %s%s: %s", own, tool and (" kept in step with " .. tool) or "", summary(st))
  if not tool then
    -- Adopted, or chosen deliberately: another tool's ledger here is not kept in step.
    for _, f in ipairs(migrations.foreign_ledgers(ctx:db())) do
      if f.table ~= own then
        ctx:detail("%s's ledger %s (%d row(s)) is also here and is not kept in step; if %s or the application still " ..
          "migrates this database, use --set ledger=%s", f.tool, f.table, f.rows, f.tool, f.tool)
      end
    end
  end
  for _, m in ipairs(st.line_ending_only) do
    ctx:warn("%s differs from the ledger only in line endings or a byte-order mark (not an edit)", m.filename)
  end
  ctx:record("check", { name = "parity", result = st.parity, detail = summary(st), drift = st.drift })
  if st.parity ~= "PASS" then
    local msg = "parity FAIL:\n  - " .. table.concat(st.drift, "\n  - ")
    if not ctx.params.allow_drift then ctx:verify_failed(msg .. "\n  Nothing was changed.") end
    ctx:warn("%s\n  continuing because allow_drift is set", msg)
  end
  for _, m in ipairs(plan:migrations()) do
    ctx:log("  %s: %s%s", m.gap and "gap, will apply" or "pending", m.path,
      m.transaction ~= "transactional" and (" (" .. m.transaction .. ")") or "")
    ctx:detail("%s", m.sql)
  end
  M.lock(ctx)
end

--- A planned migration's SQL as the review shows it: all of a normal file; of a huge one its
--- head and a line naming what was left out (the engine's bound, sql.excerpt). The whole SQL
--- is the parity step's detail (-v).
function M.review_sql(m)
  return (sql.excerpt(m.sql, m.path, m.statements))
end

--- Names of the migrations this run would apply (the plan's).
function M.to_apply(ctx)
  return M.plan(ctx):names()
end

--- Names still pending in `st` (a status read now), up to the target if the runbook has one.
function M.left(ctx, st)
  local chain = M.chain(ctx)
  local position = {}
  for i, m in ipairs(chain:list()) do position[m.name] = i end
  local last = math.huge
  if ctx.params.target and ctx.params.target ~= "" then
    local t = chain:get(ctx.params.target)
    if not t then ctx:config_error("target " .. ctx.params.target .. " is not a migration in " .. ctx.params.migrations) end
    last = position[t.name]
  end
  local out = {}
  for _, name in ipairs(st.pending) do
    if position[name] <= last then out[#out + 1] = name end
  end
  return out
end

--- Wraps a step so it runs only when the plan changes something: no backup to take and
--- no workers to pause when there is nothing to change.
function M.when_pending(run)
  return function(ctx)
    if M.plan(ctx):empty() then
      ctx:log("nothing to apply: skipped")
      return
    end
    return run(ctx)
  end
end

--- Asks before a change that has no plan of its own (rebuild, resolve, baseline): the
--- environment's typed token, else the composition's (settings.confirm), else a yes/no
--- question (--yes answers it).
function M.ask(ctx, question)
  ctx:confirm { question = question, token = ctx.policy.confirm ~= "" and ctx.policy.confirm or nil }
end

--- Step: the confirmation gate of apply: each destructive finding acknowledged by name
--- (--ack, or at a terminal), then the token or question of the policy.
function M.confirm(ctx)
  local plan = M.plan(ctx)
  if plan:empty() then
    ctx:log("nothing to apply")
    return
  end
  local question = string.format("Apply %d migration(s) to %s?", plan:count(), tostring(ctx:db()))
  if ctx.rehearse and M.rehearse_on(ctx) == "shadow" then
    question = string.format("Rehearse %d migration(s) on a shadow of %s (an ephemeral copy of its schema)? Nothing runs on it.",
      plan:count(), tostring(ctx:db()))
  elseif ctx.rehearse then
    question = string.format("Rehearse %d migration(s) on %s itself? They run for real, holding their locks, and are rolled back.",
      plan:count(), tostring(ctx:db()))
  end
  if ctx.state.window then
    question = question .. string.format(" Estimated window: ~%s (from the latest rehearsal).", require("lib.receipts").human(ctx.state.window))
  end
  -- The environment's approvals of exactly this plan (approve.lua), before anyone is asked.
  if not ctx.rehearse then plan:check_approvals(ctx:db()) end
  plan:confirm(question)
end

local function apply_options(ctx)
  return {
    lock_timeout = ctx.params.lock_timeout,
    statement_timeout = ctx.params.statement_timeout ~= "0" and ctx.params.statement_timeout or nil,
    lock_wait = runbook.seconds(ctx.params.lock_wait or "60s"),
    estimates = ctx.state.estimate_ms,  -- the rehearsal's, for the ETA on a terminal (lib/receipts.lua)
  }
end

--- Plans and applies on another connection (a freshly built database): for runbooks whose
--- confirmation was asked before that database existed.
function M.apply_on(ctx, conn, extra)
  local chain = M.chain(ctx)
  local plan = migrations.plan(conn, chain, ledger_opts(ctx, extra))
  local opts = apply_options(ctx)
  return migrations.apply(conn, chain, plan, opts)
end

--- Where --rehearse runs the plan: "shadow" (an ephemeral copy of the schema; the default) or
--- "target" (the database itself, in a transaction that is rolled back: proves less, skips
--- what cannot run in a transaction; refused where the environment is not disposable).
function M.rehearse_on(ctx)
  local where = ctx.params.rehearse_on or "shadow"
  if where == "target" and ctx.env and ctx.env.disposable ~= true then
    ctx:config_error("--set rehearse_on=target rehearses on " .. ctx.env.name .. "'s database itself; that is allowed " ..
      "only where the environment is marked disposable = true. Rehearse on a shadow (the default) instead.")
  end
  return where
end

--- Step: apply exactly the plan under the advisory lock. First the environment's compare
--- queries are read and recorded (verify compares them after; lib/checks.lua).
function M.apply(ctx)
  local plan = M.plan(ctx)
  require("lib.checks").compare_before(ctx)
  if ctx.rehearse and M.rehearse_on(ctx) == "shadow" then
    ctx.state.applied = require("lib.rehearsal").on_shadow(ctx)
    return
  end
  local outcomes = migrations.apply(ctx:db(), M.chain(ctx), plan, apply_options(ctx))
  ctx.state.applied = outcomes
  if ctx.rehearse then
    local total, skipped = 0, 0
    for _, o in ipairs(outcomes) do
      total = total + o.ms
      if o.status ~= "rehearsed" then skipped = skipped + 1 end
    end
    ctx:log("rehearsal: %d migration(s) ran on %s in %.0f ms and were rolled back%s; nothing was changed", #outcomes - skipped,
      tostring(ctx:db()), total, skipped > 0 and string.format(" (%d could not run inside a transaction and were skipped)", skipped) or "")
    local files = {}
    for _, o in ipairs(outcomes) do
      if o.status == "rehearsed" then files[#files + 1] = { name = o.name, sha256 = o.sha256 } end
    end
    ctx:record("rehearsal", { where = "target", proven = "the pending SQL on the target itself, inside one transaction that was rolled back",
      migrations = #outcomes - skipped, skipped = skipped, ms = total, files = files })
  elseif ctx.dry_run then
    ctx:log("dry-run: %d migration(s) would be applied; nothing was changed", #outcomes)
  else
    ctx:log("applied %d migration(s)", #outcomes)
  end
end

--- Which of the plan's migrations the ledger records as applied now.
local function committed_of_plan(ctx, st)
  local applied = {}
  for _, name in ipairs(st.applied) do applied[name] = true end
  local done, left = {}, {}
  for _, name in ipairs(M.plan(ctx):names()) do
    if applied[name] then done[#done + 1] = name else left[#left + 1] = name end
  end
  return done, left
end

--- Step: parity after apply must PASS and nothing of the plan may be left.
function M.verify(ctx)
  local st = M.status(ctx)
  ctx.state.status = st
  if ctx.dry_run then
    ctx:log("dry-run: ledger unchanged: %s", summary(st))
    return
  end
  local _, left = committed_of_plan(ctx, st)
  local ok = st.parity == "PASS" and #left == 0
  ctx:record("check", { name = "parity after apply", result = ok and "PASS" or "FAIL", detail = summary(st) })
  if not ok then
    ctx:verify_failed(string.format("after apply: %s; %d still pending%s", summary(st), #left,
      #st.drift > 0 and ("\n  - " .. table.concat(st.drift, "\n  - ")) or ""))
  end
  ctx:log("parity PASS: %s", summary(st))
  M.record_expected_schema(ctx, st)
end

--- After a live apply (or rollback: `changed`) that changed something: records the schema it
--- left (catalog.snapshot) as what post-verify expects from now on, with the ledger position it
--- belongs to (post-verify prefers the expectation recorded at the ledger's position). Once per run.
function M.record_expected_schema(ctx, st, changed)
  if changed == nil then changed = #(ctx.state.applied or {}) > 0 end
  if ctx.dry_run or not changed or ctx.state.expected_schema then return end
  st = st or M.status(ctx)  -- now: ctx.state.status may be from before the apply
  local snap = catalog.snapshot(ctx:db())
  snap.applied_count, snap.last_applied = #st.applied, st.applied[#st.applied]
  ctx.state.expected_schema = snap
  ctx:record("expected_schema", snap)
end

--- After a failed or interrupted apply: what is committed, what is not, and the next command.
function M.next_steps(ctx)
  local plan = ctx.state.plan
  if not plan or plan:empty() or ctx.dry_run or plan:kind() ~= "apply" then return end
  local ok, st = pcall(M.status, ctx)
  if not ok then
    ctx:warn("could not read the ledger to say what is committed: %s", tostring(st))
    return
  end
  local done, left = committed_of_plan(ctx, st)
  local lines = { string.format("%d of the plan's %d migration(s) are committed, %d are not.", #done, plan:count(), #left) }
  for _, row in ipairs(st.dirty) do
    lines[#lines + 1] = string.format("%s is dirty: repair by hand, then: runbook resolve.lua --set migration=%s --set as=applied (or as=rolled-back)",
      row.filename, row.filename)
  end
  if #left > 0 then
    lines[#lines + 1] = string.format("to finish: fix the cause, then run: runbook %s.lua (it applies only what is left)", ctx.runbook)
  end
  if #done > 0 then
    lines[#lines + 1] = string.format("to undo what this run committed: runbook rollback.lua --set count=%d", #done)
  end
  ctx:warn("next:\n  %s", table.concat(lines, "\n  "))
  ctx:record("next_steps", { committed = done, not_applied = left, advice = lines })
end

return M
