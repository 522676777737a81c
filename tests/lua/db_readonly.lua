-- A test runbook: in dry-run the session is read-only, so the server itself refuses a write
-- even when the runbook asks for a writable connection.
local runbook = require "runbook"
local db = require "db"

return runbook.define {
  name = "db-readonly-test",
  steps = {
    runbook.step("write", "A write in dry-run is refused by PostgreSQL", function(ctx)
      local c = db.connect { url = ctx:database_url(), read_only = false }
      assert(c:read_only(), "dry-run sessions are read-only")
      local ok, err = pcall(c.exec, c, "CREATE TABLE rb_should_not_exist (id int)")
      assert(not ok, "the write went through")
      assert(tostring(err):find("read-only transaction", 1, true), tostring(err))
      ctx:log("refused as expected: %s", tostring(err))
    end),
  },
}
