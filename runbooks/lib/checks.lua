-- Verification checks (seed 001 "Post-apply verification", seed 004 "Post-Migration
-- Verification", seed 000 parity). Each check returns {name, result, detail} with result
-- "PASS", "FAIL" or "WARN"; run() collects them into ctx.state.checks and the run record.
local http = require "http"
local migrate = require "lib.migrate"
local report = require "lib.report"
local runbook = require "runbook"

local M = {}

local function result(name, ok, detail, warn_only)
  return { name = name, result = ok and "PASS" or (warn_only and "WARN" or "FAIL"), detail = detail }
end

--- Ledger parity (seed 000): PASS when nothing is missing, extra, edited or dirty and nothing is pending.
function M.parity(ctx)
  local st = migrate.status(ctx)
  ctx.state.status = st
  local left = migrate.left(ctx, st) -- pending up to the target, if the runbook has one
  local ok = st.parity == "PASS" and #left == 0
  local detail = migrate.summary(st)
  if #st.drift > 0 then detail = detail .. ": " .. table.concat(st.drift, "; ") end
  if #left > 0 then detail = detail .. "; pending: " .. table.concat(left, ", ") end
  return result("ledger parity", ok, detail)
end

--- Connection count against max_connections (seed 001: connection exhaustion).
function M.connections(ctx, limit)
  local row = ctx:db():query_row([[SELECT count(*) AS n, current_setting('max_connections')::int AS max
    FROM pg_stat_activity WHERE backend_type = 'client backend']])
  limit = (limit and limit > 0) and limit or math.floor(row.max * 0.9)
  return result("connections", row.n <= limit, string.format("%d client connections (limit %d, server max %d)", row.n, limit, row.max))
end

--- Transactions open longer than `threshold` (a duration such as "5min").
function M.long_transactions(ctx, threshold, warn_only)
  threshold = threshold or "5min"
  local rows = ctx:db():query([[SELECT pid, usename, application_name,
      extract(epoch FROM now() - xact_start)::int AS seconds, left(regexp_replace(query, '\s+', ' ', 'g'), 80) AS query
    FROM pg_stat_activity
    WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND now() - xact_start > $1::interval
    ORDER BY xact_start LIMIT 10]], threshold)
  if #rows == 0 then return result("long transactions", true, "none open longer than " .. threshold) end
  local parts = {}
  for _, r in ipairs(rows) do
    parts[#parts + 1] = string.format("pid %d (%s, %s) %ds: %s", r.pid, r.usename or "?", r.application_name or "", r.seconds, r.query or "")
  end
  return result("long transactions", false, #rows .. " open longer than " .. threshold .. ": " .. table.concat(parts, "; "), warn_only)
end

--- Indexes a failed CREATE INDEX CONCURRENTLY left invalid (pg_index.indisvalid).
function M.invalid_indexes(ctx)
  local rows = ctx:db():query([[SELECT n.nspname || '.' || c.relname AS name FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT i.indisvalid ORDER BY 1]])
  if #rows == 0 then return result("invalid indexes", true, "none") end
  local names = {}
  for _, r in ipairs(rows) do names[#names + 1] = r.name end
  return result("invalid indexes", false, table.concat(names, ", ") ..
    " (left by a failed CONCURRENTLY build: DROP INDEX CONCURRENTLY it, then resolve the migration)")
end

--- Expected tables exist (to_regclass), e.g. {"public.hero_snapshots"}.
function M.tables(ctx, names)
  local missing = {}
  for _, t in ipairs(names or {}) do
    if not ctx:db():value("SELECT to_regclass($1) IS NOT NULL", t) then missing[#missing + 1] = t end
  end
  return result("expected tables", #missing == 0,
    #missing == 0 and (#(names or {}) .. " present") or ("missing: " .. table.concat(missing, ", ")))
end

--- Expected indexes exist (pg_indexes): names, or {table=, like=} patterns on indexdef.
function M.indexes(ctx, specs)
  local missing = {}
  for _, s in ipairs(specs or {}) do
    local found
    if type(s) == "string" then
      found = ctx:db():value("SELECT count(*) FROM pg_indexes WHERE indexname = $1", s) > 0
    else
      found = ctx:db():value("SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef ILIKE $2",
        s.table, s.like or "%") > 0
    end
    if not found then missing[#missing + 1] = type(s) == "string" and s or (s.table .. " " .. (s.like or "")) end
  end
  return result("expected indexes", #missing == 0,
    #missing == 0 and (#(specs or {}) .. " present") or ("missing: " .. table.concat(missing, ", ")))
end

-- The first value of `sql`: ok, the error (when not ok), whether there was a row, the value
-- (nil for NULL).
local function first_value(ctx, sql)
  local function pack(ok, ...)
    if not ok then return false, tostring((...)) end
    return true, nil, select("#", ...) > 0, (...)
  end
  return pack(pcall(function() return ctx:db():value(sql) end))
end

-- A value as the results show it: NULL, integers without a decimal point, numeric text as it
-- is, other text quoted.
local function shown(v)
  if v == nil then return "NULL" end
  if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
  if type(v) == "string" then return tonumber(v) and v or string.format("%q", v) end
  return tostring(v)
end

-- The text of a value compared with a bare expected value (no quotes); nil for NULL.
local function text_of(v)
  if v == nil then return nil end
  if type(v) == "string" then return v end
  return (shown(v))
end

-- A number from a value (numbers, and numeric or bigint text); nil for anything else.
local function number_of(v)
  if type(v) == "number" then return v end
  if type(v) == "string" then return tonumber(v) end
  return nil
end

local MEETS = {
  ["="] = function(a, b) return a == b end, ["!="] = function(a, b) return a ~= b end,
  [">="] = function(a, b) return a >= b end, [">"] = function(a, b) return a > b end,
  ["<="] = function(a, b) return a <= b end, ["<"] = function(a, b) return a < b end,
}

--- Whether `value` meets `expectation` (runbook.parse_expect), and why not.
function M.meets(expectation, value)
  if expectation.op == "text" then
    if text_of(value) == expectation.value then return true end
    return false
  end
  local n = number_of(value)
  if n == nil then return false, "not a number" end
  return MEETS[expectation.op](n, expectation.number)
end

--- Smoke SQL: each query must run and its first value must not be false or NULL; with
--- `expect` (`"= 0"`, `">= 1"`, `"ok"`, ...) it must meet that instead.
function M.smoke(ctx, spec)
  local name = type(spec) == "table" and (spec.name or spec.sql) or spec
  local sql = type(spec) == "table" and spec.sql or spec
  local expect = type(spec) == "table" and spec.expect or nil
  local ok, err, has_row, value = first_value(ctx, sql)
  if not ok then return result("smoke: " .. name, false, err) end
  if expect == nil then
    return result("smoke: " .. name, value ~= nil and value ~= false, "returned " .. tostring(value))
  end
  local want, bad = runbook.parse_expect(expect)
  if not want then return result("smoke: " .. name, false, string.format("expect %s: %s", shown(expect), bad)) end
  if not has_row then return result("smoke: " .. name, false, "no row, expected " .. want.text) end
  local met, why = M.meets(want, value)
  return result("smoke: " .. name, met, string.format("got %s%s, expected %s", shown(value), why and (", " .. why) or "", want.text))
end

local MUST_TEXT = { not_shrink = "must not shrink", equal = "must stay equal", grow = "must grow" }

--- Step part (apply, before anything changes): reads each of the environment's `compare`
--- queries and records the values (event `compare_before`) for verify and post-verify. A query
--- that fails is recorded with its error: its comparison fails later. Once per run. A run
--- whose plan applies nothing records nothing and its verify compares nothing.
function M.compare_before(ctx)
  local specs = ctx.env and ctx.env.compare or {}
  if #specs == 0 or ctx.state.compare_before then return end
  if migrate.plan(ctx):empty() then
    ctx.state.compare_before = { queries = {}, nothing_applied = true }
    ctx:log("compare: nothing to apply, so nothing to compare")
    return
  end
  local queries, parts = {}, {}
  for _, c in ipairs(specs) do
    local ok, err, has_row, value = first_value(ctx, c.sql)
    local q = { name = c.name, sql = c.sql, must = c.must }
    if not ok then
      q.error = err
      ctx:warn("compare %s: could not be read before the apply: %s", c.name, err)
    elseif not has_row then
      q.no_row = true
    else
      q.value, q.null = value, value == nil or nil
    end
    queries[#queries + 1] = q
    parts[#parts + 1] = string.format("%s %s", c.name, q.error and "(error)" or q.no_row and "(no row)" or shown(value))
  end
  ctx.state.compare_before = { queries = queries, run_id = ctx.run_id }
  ctx:record("compare_before", { queries = queries })
  ctx:log("compare: before the apply: %s", table.concat(parts, ", "))
end

-- The values recorded before: this run's (apply), else the newest a live run recorded on
-- this database (post-verify run on its own), and the run that recorded them.
local function recorded_before(ctx)
  if ctx.state.compare_before then return ctx.state.compare_before, nil end
  if ctx.state.compare_before_recorded == nil then
    local e, rec = require("lib.records").latest_event(ctx, "compare_before", { any_status = true })
    ctx.state.compare_before_recorded = e and { queries = e.queries or {}, run_id = rec.run_id } or false
  end
  local r = ctx.state.compare_before_recorded
  return r or nil, r and r.run_id
end

--- A compare query of the environment: its value now against the value recorded before the
--- apply, by `must` (not_shrink, equal, grow), naming both numbers.
function M.compare(ctx, spec)
  local name = "compare " .. tostring(spec.name)
  local must = MUST_TEXT[spec.must] or ("must " .. tostring(spec.must))
  local before_set, from_run = recorded_before(ctx)
  if before_set and before_set.nothing_applied then
    return result(name, true, "not compared: this run applied nothing")
  end
  local before
  for _, q in ipairs(before_set and before_set.queries or {}) do
    if q.name == spec.name then before = q end
  end
  if not before then
    return result(name, false, "no value recorded before an apply yet (apply.lua reads it first)", true)
  end
  local from = from_run and ("; before recorded by run " .. from_run) or ""
  if before.sql ~= spec.sql then
    return result(name, false, "the query changed since run " .. tostring(from_run or ctx.run_id) ..
      " recorded its value before the apply; apply again to record it", true)
  end
  if before.error then return result(name, false, "could not be read before the apply: " .. before.error .. from) end
  if before.no_row then return result(name, false, "no row before the apply; " .. must .. from) end
  local ok, err, has_row, after = first_value(ctx, spec.sql)
  if not ok then return result(name, false, string.format("%s before, after: %s; %s%s", shown(before.value), err, must, from)) end
  if not has_row then return result(name, false, string.format("%s before, no row after: %s%s", shown(before.value), must, from)) end
  local detail = string.format("%s before, %s after: %s%s", shown(before.value), shown(after), must, from)
  local b, a = number_of(before.value), number_of(after)
  if spec.must == "equal" and (b == nil or a == nil) then
    return result(name, text_of(before.value) == text_of(after), detail)
  end
  if b == nil or a == nil then return result(name, false, detail .. " (not numbers)") end
  local pass = (spec.must == "not_shrink" and a >= b) or (spec.must == "grow" and a > b) or (spec.must == "equal" and a == b)
  return result(name, pass, detail)
end

--- What was recorded before the apply, for a line of the dry-run.
local function before_summary(ctx)
  local parts = {}
  for _, q in ipairs(ctx.state.compare_before and ctx.state.compare_before.queries or {}) do
    parts[#parts + 1] = string.format("%s %s", q.name, q.error and "(error)" or q.no_row and "(no row)" or shown(q.value))
  end
  if ctx.state.compare_before and ctx.state.compare_before.nothing_applied then return "none (nothing to apply)" end
  return #parts > 0 and table.concat(parts, ", ") or "none (the apply step did not run)"
end

--- An HTTP check: {name=, url=, status=200, json={["path"]=value}, timeout=, retries=}.
function M.http(ctx, spec)
  local ok, detail = http.check {
    url = spec.url, method = spec.method, status = spec.status or 200, json = spec.json,
    timeout = spec.timeout or 10, retries = spec.retries or 0, interval = spec.interval or 2,
  }
  return result(spec.name or ("http " .. spec.url), ok, detail)
end

--- The schema this database is expected to have: the one this run just recorded, else the
--- newest `expected_schema` a successful live run recorded for it at the ledger's current
--- position (after a rollback: the one recorded when the ledger last stood there), else the
--- newest at all (lib/records.lua).
function M.expected_schema(ctx, st)
  if ctx.state.expected_schema then return ctx.state.expected_schema, ctx.run_id end
  local records = require "lib.records"
  if st then
    local e, rec = records.latest_event(ctx, "expected_schema", { where = function(e)
      return e.applied_count == #st.applied and e.last_applied == st.applied[#st.applied]
    end })
    if e then return e, rec.run_id end
  end
  local e, rec = records.latest_event(ctx, "expected_schema")
  return e, rec and rec.run_id
end

local function joined(list, limit)
  limit = limit or 20
  local shown = {}
  for i = 1, math.min(#list, limit) do shown[i] = list[i] end
  return table.concat(shown, "; ") .. (#list > limit and string.format("; and %d more", #list - limit) or "")
end

--- Expected schema (issue 10): the live catalog against the schema the last successful apply
--- left. Every difference is named; a FAIL unless the ledger moved since that apply (a rollback,
--- a manual resolve), which makes the expectation stale: then a WARN.
function M.schema(ctx)
  local catalog = require "catalog"
  local ok, st = pcall(function() return ctx.state.status or migrate.status(ctx) end)
  if not ok then st = nil end
  local expected, run = M.expected_schema(ctx, st)
  if not expected then
    return result("expected schema", false, "no expected schema recorded (a successful live apply records one)", true)
  end
  local diffs = catalog.diff(expected, catalog.snapshot(ctx:db()))
  local stale
  if expected.applied_count then
    if st and (#st.applied ~= expected.applied_count or st.applied[#st.applied] ~= expected.last_applied) then
      stale = string.format("recorded at %d applied (last %s), the ledger now has %d (last %s)", expected.applied_count,
        tostring(expected.last_applied), #st.applied, tostring(st.applied[#st.applied]))
    end
  end
  local r
  if #diffs == 0 then
    r = result("expected schema", true, string.format("matches the schema recorded by run %s (%d tables, %d indexes, %d constraints)",
      run, #(expected.tables or {}), #(expected.indexes or {}), #(expected.constraints or {})))
  else
    r = result("expected schema", false, string.format("%s (%d difference(s) from the schema recorded by run %s%s)", joined(diffs),
      #diffs, run, stale and ("; stale: " .. stale) or ""), stale ~= nil)
  end
  r.differences, r.expected_from = diffs, run
  return r
end

--- Schema as rehearsed (issue 10): the live catalog against the schema the newest rehearsal of
--- this database on a shadow left at the same ledger position — the plan's expectation, proven
--- before the change. Nil (no row) when no rehearsal of this database reached that position.
function M.rehearsed_schema(ctx)
  local ok, st = pcall(function() return ctx.state.status or migrate.status(ctx) end)
  if not ok or #st.applied == 0 then return nil end
  local e, rec = require("lib.records").latest_event(ctx, "rehearsed_schema", { mode = "rehearse", where = function(e)
    return e.applied_count == #st.applied and e.last_applied == st.applied[#st.applied]
  end })
  if not e then return nil end
  local diffs = require("catalog").diff(e, require("catalog").snapshot(ctx:db()))
  local r
  if #diffs == 0 then
    r = result("schema as rehearsed", true, string.format("matches the shadow of rehearsal run %s (%s applied)",
      rec.run_id, tostring(e.last_applied)))
  else
    r = result("schema as rehearsed", false, string.format("%s (%d difference(s) from the shadow of rehearsal run %s)",
      joined(diffs), #diffs, rec.run_id))
  end
  r.differences, r.expected_from = diffs, rec.run_id
  return r
end

--- Foreign-key orphans: child rows whose key has no parent row (written under
--- session_replication_role = replica, or before a NOT VALID constraint). Tables larger than
--- `sample` rows are sampled, and the detail says so.
function M.fk_orphans(ctx, sample)
  local fks = require("catalog").fk_orphans(ctx:db(), { sample = sample or 100000 })
  local bad, sampled = {}, 0
  for _, fk in ipairs(fks) do
    if fk.sampled then sampled = sampled + 1 end
    if fk.orphans > 0 then
      bad[#bad + 1] = string.format("%s on %s -> %s: %d orphan row(s)%s, e.g. %s%s", fk.constraint, fk.table, fk.parent,
        fk.orphans, fk.sampled and string.format(" in a sample of %d", fk.checked) or "", fk.example or "?",
        fk.validated and "" or " (constraint NOT VALID)")
    end
  end
  if #bad == 0 then
    return result("foreign-key orphans", true, string.format("none under %d foreign key(s)%s", #fks,
      sampled > 0 and string.format(" (%d table(s) sampled)", sampled) or ""))
  end
  return result("foreign-key orphans", false, joined(bad))
end

--- NOT VALID constraints: a FAIL unless the environment lists them as intended
--- (`not_valid_ok = { "orders_user_fk" }`, by name or schema.table.name), then a WARN.
function M.not_valid(ctx, intended)
  local ok = {}
  for _, n in ipairs(intended or {}) do ok[n] = true end
  local unexpected, known = {}, {}
  for _, c in ipairs(require("catalog").not_valid(ctx:db())) do
    local what = string.format("%s on %s", c.name, c.table)
    if ok[c.name] or ok[c.table .. "." .. c.name] then known[#known + 1] = what else unexpected[#unexpected + 1] = what end
  end
  if #unexpected > 0 then
    return result("NOT VALID constraints", false, joined(unexpected) ..
      " (VALIDATE CONSTRAINT it, or list it in the environment's not_valid_ok)" ..
      (#known > 0 and ("; intended: " .. joined(known)) or ""))
  end
  if #known > 0 then return result("NOT VALID constraints", false, "intended (not_valid_ok): " .. joined(known), true) end
  return result("NOT VALID constraints", true, "none")
end

--- Runs checks (functions returning results) and collects them; a check that raises is a FAIL.
function M.run(ctx, list)
  ctx.state.checks = ctx.state.checks or {}
  for _, check in ipairs(list) do
    local ok, r = pcall(check)
    if not ok then r = { name = "check", result = "FAIL", detail = tostring(r) } end
    if r == nil then goto next end  -- a check that does not apply here (schema as rehearsed)
    ctx.state.checks[#ctx.state.checks + 1] = r
    ctx:record("check", r)
    if r.result == "FAIL" then ctx:warn("%s: FAIL: %s", r.name, r.detail) end
    ::next::
  end
end

--- The database checks of an environment (seed 001 verification queries).
--- `opts.parity = false` leaves out the parity check (a rollback checks its ledger its own way:
--- the rolled-back migrations are pending again, which is the point).
function M.database_checks(ctx, opts)
  local env = ctx.env or {}
  local list = {
    function() return M.parity(ctx) end,
    function() return M.connections(ctx, env.max_connections) end,
    -- Someone else's long transaction is worth seeing, not a failure of the change.
    function() return M.long_transactions(ctx, env.long_transaction or "5min", true) end,
    function() return M.invalid_indexes(ctx) end,
    function() return M.schema(ctx) end,
    function() return M.rehearsed_schema(ctx) end,
    function() return M.fk_orphans(ctx, env.fk_sample) end,
    function() return M.not_valid(ctx, env.not_valid_ok) end,
  }
  if opts and opts.parity == false then table.remove(list, 1) end
  if env.expected_tables then list[#list + 1] = function() return M.tables(ctx, env.expected_tables) end end
  if env.expected_indexes then list[#list + 1] = function() return M.indexes(ctx, env.expected_indexes) end end
  for _, s in ipairs(env.smoke_sql or {}) do list[#list + 1] = function() return M.smoke(ctx, s) end end
  for _, c in ipairs(env.compare or {}) do list[#list + 1] = function() return M.compare(ctx, c) end end
  return list
end

function M.http_checks(ctx)
  local list = {}
  for _, spec in ipairs(ctx.env and ctx.env.health_checks or {}) do
    list[#list + 1] = function() return M.http(ctx, spec) end
  end
  return list
end

--- Step: prints the table of results; any FAIL is a verification failure (exit code 4).
function M.verdict(ctx)
  local rows, failed = {}, 0
  for _, r in ipairs(ctx.state.checks or {}) do
    rows[#rows + 1] = { r.name, r.result, r.detail or "" }
    if r.result == "FAIL" then failed = failed + 1 end
  end
  ctx:log("%s", report.table({ "check", "result", "detail" }, rows))
  if failed > 0 then ctx:verify_failed(string.format("%d of %d checks failed", failed, #rows)) end
  ctx:log("all %d checks passed", #rows)
end

--- The checks a monitoring window repeats: the environment's smoke SQL and HTTP health checks
--- (what tells whether the application still works), not the one-off schema checks.
function M.watch_checks(ctx)
  local env = ctx.env or {}
  local list = {}
  for _, s in ipairs(env.smoke_sql or {}) do list[#list + 1] = function() return M.smoke(ctx, s) end end
  for _, c in ipairs(M.http_checks(ctx)) do list[#list + 1] = c end
  return list
end

--- Step: the monitoring window after a change (seed 001: watch 30-60 min; seed 004: 24 h):
--- the health and smoke checks again every `every` for `watch`, a line per round and a summary.
--- The first failing round ends the window: a verification failure (exit code 4) naming the
--- round and the check, and the rollback decision is put to the operator (never taken here).
function M.watch(ctx)
  local window = runbook.seconds(ctx.params.watch or "0")
  if window <= 0 then return end
  local on_failure = ctx.env and ctx.env.watch_failure
  if on_failure ~= nil and on_failure ~= "ask" then
    ctx:config_error(string.format("watch_failure must be \"ask\" (or absent), got %q", tostring(on_failure)))
  end
  local every = runbook.seconds(ctx.params.every or "1m")
  if every <= 0 then ctx:config_error("every must be longer than 0 s") end
  local rounds = math.max(1, math.floor(window / every + 0.5))
  local list = M.watch_checks(ctx)
  if #list == 0 then
    ctx:config_error("watch: the environment has no smoke_sql or health_checks to repeat")
  end
  ctx:log("watching for %s: %d round(s) of %d check(s), every %s", ctx.params.watch, rounds, #list, ctx.params.every)
  if ctx.dry_run then return ctx:log("dry-run: the window is not watched") end
  local passed = 0
  for round = 1, rounds do
    local results, failed = {}, {}
    for _, check in ipairs(list) do
      local ok, r = pcall(check)
      if not ok then r = { name = "check", result = "FAIL", detail = tostring(r) } end
      if r then
        results[#results + 1] = r
        if r.result == "FAIL" then failed[#failed + 1] = r end
      end
    end
    ctx:record("watch_round", { round = round, rounds = rounds, checks = #results, failed = #failed, results = results })
    if #failed > 0 then
      local lines = {}
      for _, r in ipairs(failed) do lines[#lines + 1] = string.format("%s: %s", r.name, r.detail or "") end
      ctx:record("check", { name = "watch", result = "FAIL",
        detail = string.format("round %d of %d: %s", round, rounds, table.concat(lines, "; ")) })
      M.rollback_decision(ctx, round, rounds, lines)
      ctx:verify_failed(string.format("the watch failed at round %d of %d (after %d passing round(s)):\n  - %s",
        round, rounds, passed, table.concat(lines, "\n  - ")))
    end
    passed = passed + 1
    ctx:log("watch round %d/%d: %d check(s) PASS", round, rounds, #results)
    if round < rounds then ctx:sleep(every) end
  end
  ctx:record("check", { name = "watch", result = "PASS", detail = string.format("%d round(s) every %s", rounds, ctx.params.every) })
  ctx:log("watch: all %d round(s) passed over %s", rounds, ctx.params.watch)
end

--- Seed 001's decision after a failed verification: roll back or fix forward. Put to the
--- operator, with the commands; the environment's `watch_failure = "ask"` asks it at a
--- terminal and records the answer. Nothing is rolled back from here.
function M.rollback_decision(ctx, round, rounds, lines)
  local env = ctx.env and (" --env " .. ctx.env.name) or ""
  ctx:warn("decide now: roll back with `runbook rollback.lua%s` (dry-run first: --dry-run), or fix forward with " ..
    "`runbook forward-fix.lua%s --set migration=NAME`", env, env)
  if ctx.env and ctx.env.watch_failure == "ask" then
    local ok, err = pcall(ctx.confirm, ctx, { question = string.format(
      "The watch failed at round %d of %d. Will you roll back now (runbook rollback.lua%s)?", round, rounds, env) })
    ctx:record("rollback_decision", { round = round, answer = ok and "roll back" or "not now",
      detail = ok and nil or tostring(err) })
  end
end

--- Step: every check of the environment, then the verdict (apply's post-verify).
function M.verify_all(ctx)
  if ctx.dry_run then
    local st = migrate.status(ctx)
    ctx:log("dry-run: nothing was applied, so post-verify only reports: %s", migrate.summary(st))
    if #(ctx.env and ctx.env.compare or {}) > 0 then
      ctx:log("dry-run: compare: values before: %s; the after comparisons are skipped, as nothing was applied", before_summary(ctx))
    end
    return
  end
  ctx.state.checks = {}
  migrate.record_expected_schema(ctx)
  M.run(ctx, M.database_checks(ctx))
  M.run(ctx, M.http_checks(ctx))
  M.verdict(ctx)
end

M.seconds = runbook.seconds
return M
