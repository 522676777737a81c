-- Steps around the migration chain: load it, show parity, confirm, apply, verify.
-- Used by apply.lua and everything composed from it.
local migrations = require "migrations"

local M = {}

local function ledger_opts(ctx, extra)
  local o = { ledger = ctx.params.ledger }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end
M.ledger_opts = ledger_opts

--- The chain of this run, loaded (read and hashed) once.
function M.chain(ctx)
  if not ctx.state.chain then
    ctx.state.chain = migrations.load(ctx.params.migrations)
    local list = ctx.state.chain:list()
    ctx:detail("loaded %d migration(s) from %s (%s layout)", #list, ctx.params.migrations, ctx.state.chain:layout())
  end
  return ctx.state.chain
end

--- Ledger status against the chain: one query.
function M.status(ctx)
  return migrations.status(ctx:db(), M.chain(ctx), ledger_opts(ctx))
end

local function summary(st)
  return string.format("%d applied, %d pending, parity %s", #st.applied, #st.pending, st.parity)
end
M.summary = summary

--- Step: ledger parity and the pending list. Fails verification on drift unless allowed.
function M.parity(ctx)
  local chain = M.chain(ctx)
  local st = M.status(ctx)
  ctx.state.status = st
  ctx:log("ledger %s: %s", ctx.params.ledger, summary(st))
  for _, m in ipairs(st.line_ending_only) do
    ctx:warn("%s differs from the ledger only in line endings or a byte-order mark (not an edit)", m.filename)
  end
  ctx:record("check", { name = "parity", result = st.parity, detail = summary(st), drift = st.drift })
  if st.parity ~= "PASS" then
    local msg = "parity FAIL:\n  - " .. table.concat(st.drift, "\n  - ")
    if not ctx.params.allow_drift then ctx:verify_failed(msg .. "\n  Nothing was changed.") end
    ctx:warn("%s\n  continuing because allow_drift is set", msg)
  end
  for _, name in ipairs(st.pending) do
    local m = chain:get(name)
    ctx:log("  pending: %s", m.up_path)
    ctx:detail("%s", m.up_sql)
  end
end

--- How many migrations this run would apply (pending, up to the target).
function M.to_apply(ctx)
  local st = ctx.state.status or M.status(ctx)
  if not ctx.params.target or ctx.params.target == "" then return st.pending end
  ctx.state.status = st
  local chain, out = M.chain(ctx), {}
  local target = chain:get(ctx.params.target)
  if not target then ctx:config_error("target " .. ctx.params.target .. " is not a migration in " .. ctx.params.migrations) end
  -- Chain order is the engine's (numeric-aware) order: compare positions, not version text.
  local position = {}
  for i, m in ipairs(chain:list()) do position[m.name] = i end
  for _, name in ipairs(st.pending) do
    if position[name] <= position[target.name] then out[#out + 1] = name end
  end
  return out
end

--- Wraps a step so it runs only when this run has migrations to apply: no backup to take
--- and no workers to pause when there is nothing to change.
function M.when_pending(run)
  return function(ctx)
    if #M.to_apply(ctx) == 0 then
      ctx:log("nothing to apply: skipped")
      return
    end
    return run(ctx)
  end
end

--- Asks before a change: for the typed token of the environment, else the composition's
--- (settings.confirm); with neither, a yes/no question (--yes answers it).
function M.ask(ctx, question)
  local token = (ctx.env and ctx.env.confirm) or ctx.settings.confirm
  ctx:confirm { question = question, token = token or nil }
end

--- Step: the confirmation gate of apply.
function M.confirm(ctx)
  local todo = M.to_apply(ctx)
  if #todo == 0 then
    ctx:log("nothing to apply")
    return
  end
  M.ask(ctx, ctx.rehearse
    and string.format("Rehearse %d migration(s) on %s? They run for real, holding their locks, and are rolled back.", #todo, tostring(ctx:db()))
    or string.format("Apply %d migration(s) to %s?", #todo, tostring(ctx:db())))
end

local runbook = require "runbook"

--- Step: apply pending migrations under the advisory lock.
function M.apply(ctx)
  local outcomes = migrations.apply(ctx:db(), M.chain(ctx), ledger_opts(ctx, {
    target = ctx.params.target,
    allow_drift = ctx.params.allow_drift,
    lock_timeout = ctx.params.lock_timeout,
    statement_timeout = ctx.params.statement_timeout ~= "0" and ctx.params.statement_timeout or nil,
    lock_wait = runbook.seconds(ctx.params.lock_wait),
  }))
  ctx.state.applied = outcomes
  if ctx.rehearse then
    local total, skipped = 0, 0
    for _, o in ipairs(outcomes) do
      total = total + o.ms
      if o.status ~= "rehearsed" then skipped = skipped + 1 end
    end
    ctx:log("rehearsal: %d migration(s) ran in %.0f ms and were rolled back%s; nothing was changed", #outcomes - skipped,
      total, skipped > 0 and string.format(" (%d could not run inside a transaction and were skipped)", skipped) or "")
    ctx:record("rehearsal", { migrations = #outcomes - skipped, skipped = skipped, ms = total })
  elseif ctx.dry_run then
    ctx:log("dry-run: %d migration(s) would be applied; nothing was changed", #outcomes)
  else
    ctx:log("applied %d migration(s)", #outcomes)
  end
end

--- Step: parity after apply must PASS and nothing up to the target may be pending.
function M.verify(ctx)
  local st = M.status(ctx)
  ctx.state.status = st
  if ctx.dry_run then
    ctx:log("dry-run: ledger unchanged: %s", summary(st))
    return
  end
  local left = M.to_apply(ctx)
  local ok = st.parity == "PASS" and #left == 0
  ctx:record("check", { name = "parity after apply", result = ok and "PASS" or "FAIL", detail = summary(st) })
  if not ok then
    ctx:verify_failed(string.format("after apply: %s; %d still pending%s", summary(st), #left,
      #st.drift > 0 and ("\n  - " .. table.concat(st.drift, "\n  - ")) or ""))
  end
  ctx:log("parity PASS: %s", summary(st))
end

return M
