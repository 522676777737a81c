-- A test runbook: the db primitive as a runbook author sees it. Each check raises on a
-- mismatch, so the run exits 1 naming the line; the C++ test expects exit 0.
local runbook = require "runbook"
local db = require "db"

local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s (%s), want %s (%s)", what, tostring(got), type(got), tostring(want), type(want)), 2)
  end
end

return runbook.define {
  name = "db-primitive-test",
  steps = {
    runbook.step("types", "Values come back with Lua types; NULL is nil", function(ctx)
      local row = ctx:db():query_row([[SELECT 42::int AS i, 9007199254740993::bigint AS big, 1.5::numeric AS n,
        true AS b, NULL::text AS missing, 'text' AS t, '{"a": {"b": [1, 2]}}'::jsonb AS j]])
      eq(row.i, 42, "int")
      eq(row.big, "9007199254740993", "bigint beyond 2^53 stays exact as text")
      eq(row.n, 1.5, "numeric")
      eq(row.b, true, "boolean")
      eq(row.missing, nil, "NULL")
      eq(row.t, "text", "text")
      eq(row.j.a.b[2], 2, "jsonb decoded to a table")
    end),
    runbook.step("parameters", "$1 parameters are data, never SQL", function(ctx)
      local c = ctx:db()
      c:exec("CREATE TABLE IF NOT EXISTS rb_probe (id int, note text, flag boolean, doc jsonb)")
      local evil = "'; DROP TABLE rb_probe; --"
      eq(c:exec("INSERT INTO rb_probe VALUES ($1, $2, $3, $4)", 1, evil, false, { k = "v" }), 1, "affected rows")
      eq(c:exec("INSERT INTO rb_probe VALUES ($1, $2, $3, $4)", 2, nil, nil, nil), 1, "NULL parameters")
      eq(c:value("SELECT note FROM rb_probe WHERE id = $1", 1), evil, "the string came back as data")
      eq(c:value("SELECT doc->>'k' FROM rb_probe WHERE id = $1", 1), "v", "a table parameter is sent as JSON")
      eq(c:value("SELECT note IS NULL AND flag IS NULL FROM rb_probe WHERE id = $1", 2), true, "nil is NULL")
      eq(#c:query("SELECT * FROM rb_probe ORDER BY id"), 2, "row count")
    end),
    runbook.step("transactions", "Commit on return, roll back on error", function(ctx)
      local c = ctx:db()
      c:transaction(function(tx) tx:exec("INSERT INTO rb_probe (id) VALUES (10)") end)
      eq(c:value("SELECT count(*) FROM rb_probe WHERE id = 10"), 1, "committed")
      local ok, err = pcall(c.transaction, c, function(tx)
        tx:exec("INSERT INTO rb_probe (id) VALUES (11)")
        error("boom")
      end)
      eq(ok, false, "the error propagates")
      assert(tostring(err):find("boom"), "the original error: " .. tostring(err))
      eq(c:value("SELECT count(*) FROM rb_probe WHERE id = 11"), 0, "rolled back")
      local sql_ok, sql_err = pcall(c.query, c, "SELECT * FROM no_such_table")
      eq(sql_ok, false, "a SQL error raises")
      assert(tostring(sql_err):find('relation "no_such_table" does not exist', 1, true), tostring(sql_err))
      assert(not tostring(sql_err):find("ERROR:", 1, true), "no libpq prefix: " .. tostring(sql_err))
    end),
    runbook.step("locks", "Advisory locks", function(ctx)
      local c = ctx:db()
      local other = db.connect { url = ctx:database_url(), application_name = "rb-probe-other" }
      eq(c:try_advisory_lock(4242), true, "first taker")
      eq(other:try_advisory_lock(4242), false, "held elsewhere")
      c:advisory_unlock(4242)
      eq(other:try_advisory_lock(4242), true, "released")
      other:close()
      eq(other:is_open(), false, "closed")
      local ok, err = pcall(other.query, other, "SELECT 1")
      eq(ok, false, "a closed connection raises")
      assert(tostring(err):find("closed"), tostring(err))
    end),
    runbook.step("describe", "tostring never shows the password", function(ctx)
      local s = tostring(ctx:db())
      assert(s:find("db connection", 1, true), s)
      assert(not s:find("Sup3rSecret", 1, true), "password leaked: " .. s)
    end),
  },
}
