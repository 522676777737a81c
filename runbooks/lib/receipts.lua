-- Rehearsal receipts and window estimates (seeds 003 and 004: rehearse on staging for timing
-- estimates, wait 24 hours there before production).
-- A receipt is an earlier run's record in the journal directory that proved a file: a rehearsal
-- that succeeded (its "rehearsal" event lists the (file, sha256) pairs it ran) or a live apply
-- that succeeded (its applied migrations). An environment with `require_rehearsal = "staging"`
-- makes apply refuse files that have no receipt from that environment with the same SHA-256;
-- `min_soak = "24h"` also asks that the staging apply of each file is that old.
local records = require "lib.records"
local report = require "lib.report"
local runbook = require "runbook"

local M = {}

-- Assumed throughput for the estimates, where the rehearsal ran on empty tables: rewriting a
-- table and building an index read its whole size. Deliberately pessimistic for SSD storage.
local REWRITE_BYTES_PER_S = 64 * 1024 * 1024
local INDEX_BYTES_PER_S = 32 * 1024 * 1024

--- Seconds since an ISO-8601 UTC time such as "2026-12-02T20:03:23.078Z" (nil when unreadable).
local function age_s(iso)
  local y, mo, d, h, mi, s = tostring(iso or ""):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  local t = { year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h), min = tonumber(mi), sec = tonumber(s) }
  -- Both sides read as local time: the offset cancels.
  return os.time(os.date("!*t")) - os.time(t)
end

local function human(seconds)
  if seconds < 1 then return string.format("%.0f ms", seconds * 1000) end
  if seconds < 90 then return string.format("%.0f s", seconds) end
  if seconds < 5400 then return string.format("%.0f min", seconds / 60) end
  return string.format("%.1f h", seconds / 3600)
end
M.human = human

--- Every receipt in the journal directory: name -> sha256 -> list of
--- { how = "rehearsal"|"apply", environment, run_id, at, database, ms, locks, rewritten }.
function M.all(ctx)
  local out = {}
  local function add(name, sha, r)
    out[name] = out[name] or {}
    out[name][sha] = out[name][sha] or {}
    table.insert(out[name][sha], r)
  end
  records.each(ctx, function(rec)
    if rec.status ~= "succeeded" then return end
    local base = { environment = rec.environment, run_id = rec.run_id, at = rec.finished_at or rec.started_at,
      database = rec.database }
    if rec.mode == "rehearse" then
      for _, e in ipairs(records.events(rec, "rehearsal")) do
        local detail = {}
        for _, m in ipairs(type(e.migrations) == "table" and e.migrations or {}) do detail[m.name] = m end
        for _, f in ipairs(e.files or {}) do
          local m = detail[f.name] or {}
          add(f.name, f.sha256, { how = "rehearsal", where = e.where, environment = base.environment, run_id = base.run_id,
            at = base.at, database = base.database, ms = m.ms, locks = m.locks, rewritten = m.rewritten })
        end
      end
    elseif rec.mode == "live" then
      for _, m in ipairs(rec.migrations or {}) do
        if m.status == "applied" then
          add(m.name, m.sha256, { how = "apply", environment = base.environment, run_id = base.run_id, at = base.at,
            database = base.database, ms = m.ms })
        end
      end
    end
  end)
  return out
end

--- The receipts of one planned migration from `environment` (any environment when nil).
local function receipts_of(all, m, environment)
  local found = {}
  for _, r in ipairs((all[m.name] or {})[m.sha256] or {}) do
    if environment == nil or r.environment == environment then found[#found + 1] = r end
  end
  table.sort(found, function(a, b) return (a.at or "") > (b.at or "") end)
  return found
end

--- What the environment's require_rehearsal / min_soak leave unmet for `plan`: a list of lines.
function M.unmet(ctx, plan, all)
  local env = ctx.env or {}
  local required = env.require_rehearsal
  if not required then return {} end
  local soak = env.min_soak and runbook.seconds(env.min_soak) or 0
  local problems = {}
  for _, m in ipairs(plan:migrations()) do
    local got = receipts_of(all, m, required)
    if #got == 0 then
      problems[#problems + 1] = string.format("%s (sha256 %s) was never rehearsed or applied on %s", m.name,
        m.sha256:sub(1, 12), required)
    elseif soak > 0 then
      local oldest_apply
      for _, r in ipairs(got) do
        local age = r.how == "apply" and age_s(r.at) or nil
        if age and (not oldest_apply or age > oldest_apply) then oldest_apply = age end
      end
      if not oldest_apply then
        problems[#problems + 1] = string.format("%s was rehearsed on %s but never applied there (min_soak %s needs an apply)",
          m.name, required, env.min_soak)
      elseif oldest_apply < soak then
        problems[#problems + 1] = string.format("%s was applied on %s %s ago; min_soak is %s (%s to go)", m.name, required,
          human(oldest_apply), env.min_soak, human(soak - oldest_apply))
      end
    end
  end
  return problems
end

--- Per planned migration, from its newest rehearsal anywhere and the target's table sizes:
--- { name, seconds, text, from } and the total.
function M.estimate(ctx, plan, all)
  local out, total, from = {}, 0, nil
  local size_of = {}
  local function size(relation)
    if size_of[relation] == nil then
      size_of[relation] = ctx:db():value("SELECT coalesce(pg_total_relation_size(to_regclass($1)), 0)", relation) or 0
    end
    return size_of[relation]
  end
  for _, m in ipairs(plan:migrations()) do
    local r
    for _, c in ipairs(receipts_of(all, m, nil)) do
      if c.how == "rehearsal" and c.ms then r = c break end
    end
    if not r then
      out[#out + 1] = { name = m.name, text = "no rehearsal of this file: no estimate" }
    else
      from = from or r
      local seconds, parts = (r.ms or 0) / 1000, {}
      local rewritten = {}
      for _, t in ipairs(r.rewritten or {}) do rewritten[t] = true end
      for _, l in ipairs(r.locks or {}) do
        if not l.created then
          local bytes = size(l.relation)
          local extra = 0
          if rewritten[l.relation] then
            extra = bytes / REWRITE_BYTES_PER_S
            parts[#parts + 1] = string.format("rewrites %s (%s)", l.relation, report.bytes(bytes))
          elseif l.mode == "SHARE UPDATE EXCLUSIVE" or l.mode == "SHARE" then
            extra = bytes / INDEX_BYTES_PER_S  -- an index build reads the table
            parts[#parts + 1] = string.format("reads %s (%s)", l.relation, report.bytes(bytes))
          end
          seconds = seconds + extra
          parts[#parts + 1] = "under " .. l.mode
        end
      end
      total = total + seconds
      out[#out + 1] = { name = m.name, seconds = seconds,
        text = string.format("~%s%s", human(seconds), #parts > 0 and (": " .. table.concat(parts, " ")) or "") }
    end
  end
  return out, total, from
end

--- Gate: refuses (exit 3) files the environment requires rehearsed and that were not, unless
--- --override-rehearsal; prints the window estimate; both go into the run record.
function M.gate(ctx)
  local plan = require("lib.migrate").plan(ctx)
  if plan:empty() then return end
  local all = M.all(ctx)
  local estimates, total, from = M.estimate(ctx, plan, all)
  if from then
    ctx.state.window = total
    ctx.state.estimate_ms = {}  -- for the progress line's ETA (lib/migrate.lua)
    for _, e in ipairs(estimates) do
      if e.seconds then ctx.state.estimate_ms[e.name] = e.seconds * 1000 end
    end
    ctx:log("estimated window: ~%s (from rehearsal run %s%s; sizes of %s now)", human(total), from.run_id,
      from.environment and (" on " .. from.environment) or "", ctx:db():database())
    for _, e in ipairs(estimates) do ctx:log("  %-40s %s", e.name, e.text) end
    ctx:record("estimates", { total_s = total, from_run = from.run_id, migrations = estimates })
  else
    ctx:detail("no rehearsal of these files in %s: no window estimate (rehearse with --rehearse first)", ctx.journal_dir or "")
  end
  if ctx.rehearse then return end  -- a rehearsal needs no receipt
  local problems = M.unmet(ctx, plan, all)
  if #problems == 0 then
    if ctx.env and ctx.env.require_rehearsal then
      ctx:log("rehearsed on %s: every planned file (same SHA-256)%s", ctx.env.require_rehearsal,
        ctx.env.min_soak and (", applied there at least " .. ctx.env.min_soak .. " ago") or "")
      ctx:record("rehearsal_receipts", { environment = ctx.env.require_rehearsal, result = "PASS" })
    end
    return
  end
  local msg = string.format("environment %s requires the planned files rehearsed on %s first:\n  - %s", ctx.env.name,
    ctx.env.require_rehearsal, table.concat(problems, "\n  - "))
  if ctx.override_rehearsal then
    ctx:warn("%s\n  proceeding: --override-rehearsal %q", msg, ctx.override_rehearsal)
    ctx:record("rehearsal_override", { reason = ctx.override_rehearsal, unmet = problems })
    return
  end
  if ctx.dry_run then
    ctx:warn("%s\n  (dry-run: a live run refuses here)", msg)
    return
  end
  ctx:abort(msg .. string.format("\n  Nothing was changed. Rehearse them: runbook apply-staging.lua --env %s --rehearse " ..
    "(or apply them there), or pass --override-rehearsal \"REASON\".", ctx.env.require_rehearsal))
end

return M
