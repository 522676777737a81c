-- Pre-flight checks shared by the runbooks (seed 001 "Pre-flight checklist", seed 004
-- "Pre-Migration Checklist"): each is a step function(ctx).
local M = {}

--- Connectivity: connect, show the server and whether the session is read-only (dry-run).
function M.connect(ctx)
  local db = ctx:db()
  local version = db:value("SHOW server_version")
  ctx:log("connected: %s, PostgreSQL %s%s", tostring(db), version,
    db:read_only() and " (read-only session: dry-run)" or "")
  ctx:record("check", { name = "connectivity", result = "PASS", detail = "PostgreSQL " .. version })
end

return M
