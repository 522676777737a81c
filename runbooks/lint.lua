-- lint.lua — lint a migration chain from PostgreSQL's own parse tree, without a database:
-- a pull-request gate for CI (seed 004 "Identify destructive operations", seed 001's failure
-- modes). Prints file:line, rule and why for each finding; exits 4 when a finding reaches the
-- fail_on level.
--   runbook lint.lua --set migrations=db/migrations --set fail_on=destructive
local runbook = require "runbook"
local sql = require "sql"
local migrate = require "lib.migrate"
local report = require "lib.report"

local function lint(ctx)
  local chain = migrate.chain(ctx)
  local findings = {}
  for _, m in ipairs(chain:list()) do
    local full = chain:get(m.name)
    for _, f in ipairs(sql.lint(full.up_sql, full.up_path)) do findings[#findings + 1] = f end
  end
  ctx.state.findings = findings
  local rows = {}
  for _, f in ipairs(findings) do
    rows[#rows + 1] = { string.format("%s:%d", f.file, f.line), f.rule, f.severity .. (f.destructive and ", destructive" or ""), f.message }
    ctx:record("finding", f)
  end
  if #rows > 0 then ctx:log("%s", report.table({ "where", "rule", "severity", "why" }, rows)) end
  ctx:log("%d migration(s), %d finding(s)", #chain:list(), #findings)
end

local function verdict(ctx)
  local level = ctx.params.fail_on
  local failing = {}
  for _, f in ipairs(ctx.state.findings) do
    if level == "warning" or (level == "error" and f.severity == "error")
        or (level == "destructive" and (f.destructive or f.severity == "error")) then
      failing[#failing + 1] = string.format("%s:%d [%s]", f.file, f.line, f.rule)
    end
  end
  if #failing > 0 then
    ctx:verify_failed(string.format("%d finding(s) at or above fail_on=%s:\n  %s", #failing, level, table.concat(failing, "\n  ")))
  end
  ctx:log("lint PASS (fail_on=%s)", level)
end

return runbook.define {
  name = "lint",
  description = "Lint a migration chain from the parse tree, without a database; exit 4 at the fail_on level",
  params = {
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    { name = "fail_on", type = "enum", choices = { "error", "destructive", "warning", "none" }, default = "error",
      help = "lowest level that fails the run" },
  },
  steps = {
    runbook.step("lint", "Lint every migration and print the findings", lint),
    runbook.step("verdict", "Fail at or above fail_on", verdict),
  },
}
