-- Pre-flight checks shared by the runbooks (seed 001 "Pre-flight checklist", seed 004
-- "Pre-Migration Checklist"): each is a step function(ctx).
local files = require "files"
local migrate = require "lib.migrate"
local checks = require "lib.checks"
local backup = require "lib.backup"
local database = require "lib.database"
local report = require "lib.report"

local M = {}

--- Connectivity: connect, show the server and whether the session is read-only (dry-run).
function M.connect(ctx)
  local db = ctx:db()
  local version = db:value("SHOW server_version")
  ctx:log("connected: %s, PostgreSQL %s%s", tostring(db), version,
    db:read_only() and " (read-only session: dry-run)" or "")
  ctx:record("check", { name = "connectivity", result = "PASS", detail = "PostgreSQL " .. version })
end

--- Review: the SQL of every planned migration, and its lint findings from the parse tree
--- (seed 002 "Review Pending Migrations", seed 004 "Identify destructive operations").
--- The findings are the plan's; a destructive one is acknowledged at the confirmation gate
--- (the engine refuses to apply without it when the policy says so), not here.
--- A rollback's plan is reviewed the same way: its SQL is the down scripts'.
function M.review(ctx)
  local plan = migrate.plan(ctx)
  local planned = plan:migrations()
  local what = plan:kind() == "rollback" and "down scripts" or "pending migrations"
  if #planned == 0 then
    ctx:log("no %s to review", what)
    return
  end
  local destructive = {}
  local show = #planned <= 20 and ctx.log or ctx.detail
  if #planned > 20 then ctx:log("%d %s: their SQL is shown with -v", #planned, what) end
  local no_down = {}
  for _, name in ipairs(plan:kind() == "rollback" and plan:missing_down() or {}) do no_down[name] = true end
  for _, m in ipairs(planned) do
    if no_down[m.name] then
      ctx:log("----- %s: no down script -----", m.name)
    else
      show(ctx, "----- %s -----\n%s", m.path, (migrate.review_sql(m):gsub("%s+$", "")))
    end
    for _, f in ipairs(m.findings) do
      ctx:warn("%s:%d: [%s] %s", f.file, f.line, f.rule, f.message)
      ctx:record("finding", f)
      if f.destructive then destructive[#destructive + 1] = f.id end
    end
  end
  if #destructive > 0 and plan:policy().acknowledge_destructive then
    ctx:log("destructive SQL must be acknowledged at the confirmation, one finding at a time (at a terminal, or --ack %s)",
      table.concat(destructive, " --ack "))
  end
end

--- Extensions that planned migrations create must be available on the server (seed 001:
--- "CREATE EXTENSION / pgcrypto permission denied").
function M.extensions(ctx)
  local needed, missing = {}, {}
  for _, m in ipairs(migrate.plan(ctx):migrations()) do
    for _, ext in ipairs(m.extensions) do needed[ext] = m.path end
  end
  for ext, file in pairs(needed) do
    if not ctx:db():value("SELECT count(*) > 0 FROM pg_available_extensions WHERE name = $1", ext) then
      missing[#missing + 1] = ext .. " (needed by " .. file .. ")"
    end
  end
  local names = {}
  for ext in pairs(needed) do names[#names + 1] = ext end
  table.sort(names)
  local r = { name = "extensions available", result = #missing == 0 and "PASS" or "FAIL",
    detail = #missing == 0 and (#names > 0 and table.concat(names, ", ") or "none needed") or ("not offered by the server: " .. table.concat(missing, ", ")) }
  ctx:record("check", r)
  if #missing > 0 then ctx:fail("pre-flight: " .. r.detail) end
  ctx:log("extensions: %s", r.detail)
end

--- Long-running transactions (DDL would queue behind them) and the connection count.
function M.activity(ctx)
  local env = ctx.env or {}
  for _, r in ipairs {
    checks.connections(ctx, env.max_connections),
    checks.long_transactions(ctx, env.long_transaction or "5min", true),
  } do
    ctx:record("check", r)
    if r.result == "PASS" then ctx:log("%s: %s", r.name, r.detail)
    elseif r.result == "WARN" then ctx:warn("%s: %s (DDL may wait behind them until lock_timeout)", r.name, r.detail)
    else ctx:fail("pre-flight: " .. r.name .. ": " .. r.detail) end
  end
end

--- Free disk space for the backup: at least twice the database size (seed 004).
function M.disk_space(ctx)
  if backup.policy(ctx) == "skip" then
    ctx:log("no backup in this run's policy: disk space not needed")
    return
  end
  local _, size = database.current(ctx)
  local dir = backup.dir(ctx)
  local free = files.free_space(dir)
  local ok = free >= 2 * size
  local r = { name = "disk space for backup", result = ok and "PASS" or "FAIL",
    detail = string.format("%s free in %s, database %s (need 2x)", report.bytes(free), dir, report.bytes(size)) }
  ctx:record("check", r)
  if not ok then
    if backup.policy(ctx) == "required" then ctx:fail("pre-flight: " .. r.detail) end
    ctx:warn("%s", r.detail)
  else
    ctx:log("disk space: %s", r.detail)
  end
end

--- Step: all server pre-flight checks in one (for runbooks that want a single step).
function M.server(ctx)
  M.extensions(ctx)
  M.activity(ctx)
  M.disk_space(ctx)
end

return M
