-- Backups (seeds 001 and 004): pg_dump in custom format, read back whole by pg_restore,
-- size and SHA-256 recorded in the run record; with backup_verify = "restore" also restored
-- into an ephemeral cluster and its row counts compared with the source's; restore into a
-- fresh database and switch.
local shell = require "shell"
local db = require "db"
local hash = require "hash"
local files = require "files"
local migrations = require "migrations"
local hooks = require "lib.hooks"
local database = require "lib.database"
local report = require "lib.report"
local records = require "lib.records"
local runbook = require "runbook"

local M = {}

--- The backup policy of this run (the engine's: the stricter of the runbook's setting and
--- the environment's).
function M.policy(ctx) return ctx.policy.backup end

--- Where backups go, as an absolute path: the run record must find them from anywhere.
function M.dir(ctx)
  return files.absolute((ctx.params.backup_dir and ctx.params.backup_dir ~= "" and ctx.params.backup_dir)
    or (ctx.env and ctx.env.backup_dir) or ".runbook/backups")
end

--- How the backup is proven: "read" (the archive read back whole) or "restore" (also restored
--- into an ephemeral cluster, every table's rows counted there and in the dump's snapshot).
--- The runbook's `backup_verify` parameter (`--set`, else the environment's key), else the
--- environment's key for runbooks without the parameter, else "read".
function M.verify_mode(ctx)
  local v = ctx.params.backup_verify
  if v == nil or v == "" then v = ctx.env and ctx.env.backup_verify end
  if v == nil or v == "" then return "read" end
  if v ~= "read" and v ~= "restore" then
    runbook.config_error(string.format("backup_verify must be \"read\" or \"restore\", got %q", tostring(v)))
  end
  return v
end

-- pg_dump/pg_restore connection: the URL without its password on the command line (where
-- `ps` would show it); the password travels in PGPASSWORD.
local function connection_args(ctx, cmd, url)
  url = url or ctx:database_url()
  if url == "" then return cmd end
  local rest, password = db.split_password(url)
  cmd[#cmd + 1] = "--dbname=" .. rest
  if password then cmd.env = { PGPASSWORD = password } end
  return cmd
end

-- pg_dump inside a REPEATABLE READ transaction of a session of its own whose snapshot it
-- imports (--snapshot): the row counts taken in that transaction are exactly what the archive
-- holds, however the source changes meanwhile. They are taken after pg_dump exits (its locks
-- released: never twice the tables' locks at once); DDL by another session in between that is
-- not MVCC-safe (TRUNCATE, a rewriting ALTER TABLE) can only make the comparison fail, never
-- pass wrongly. Returns the census (conn:census()).
local function dump_in_snapshot(ctx, cmd)
  local src = db.connect { url = ctx:database_url(), application_name = "runbook (backup snapshot)" }
  -- The transaction sits idle while pg_dump runs, and counting reads every table whole.
  src:set("idle_in_transaction_session_timeout", "0")
  src:set("statement_timeout", "0")
  local ok, census = pcall(src.transaction, src, function(c)
    c:script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    cmd[#cmd + 1] = "--snapshot=" .. c:value("SELECT pg_export_snapshot()")
    shell.run(cmd)
    return c:census()
  end)
  src:close()
  if not ok then error(census, 0) end
  return census
end

local function count_text(n) return n and string.format("%d", n) or "no table" end

-- Restores `file` into an ephemeral cluster (the target's major version where installed)
-- and compares its row counts with `census`; the cluster is removed whatever happens.
-- Records a "backup restorable" check; raises on a restore failure or any mismatch.
local function restore_check(ctx, file, census)
  local major = math.floor(ctx:db():server_version() / 10000)
  local cluster = db.ephemeral { version = major }
  local info = cluster:info()
  local ok, result = pcall(cluster.restore, cluster, file, census)
  cluster:stop()
  if not ok then
    local stopped = type(result) == "table" and (result.stopped or result.kind == "aborted")
    if not stopped then
      local message = type(result) == "table" and result.message or tostring(result)
      ctx:record("check", { name = "backup restorable", result = "FAIL", detail = tostring(message) })
    end
    if type(result) == "table" and type(result.message) == "string" and not stopped then
      result.message = result.message .. "\n  Nothing was applied; check pg_dump and the archive, then run again."
    end
    error(result, 0)
  end
  result.server, result.ms = info.version, result.restore_ms + result.count_ms
  if #result.mismatches > 0 then
    local lines = {}
    for _, m in ipairs(result.mismatches) do
      lines[#lines + 1] = string.format("%s: %s rows in the source, %s in the restored copy", m.table,
        count_text(m.source), count_text(m.restored))
    end
    local detail = string.format("%d of %d table(s) differ: %s", #result.mismatches, #result.tables,
      table.concat(lines, "; "))
    ctx:record("check", { name = "backup restorable", result = "FAIL", detail = detail, mismatches = result.mismatches })
    ctx:fail(string.format("backup %s restore-verify FAIL: restored into an ephemeral PostgreSQL %s, %d of %d table(s) " ..
      "have other row counts than the source had in the dump's snapshot:\n  %s\n  Nothing was applied; check pg_dump " ..
      "(a wrapper, --exclude-table-data, permissions), then run again.", file, info.version, #result.mismatches,
      #result.tables, table.concat(lines, "\n  ")))
  end
  ctx:record("check", { name = "backup restorable", result = "PASS",
    detail = string.format("restored into an ephemeral PostgreSQL %s: %d table(s), %d row(s), every count equal to the source's",
      info.version, #result.tables, result.rows) })
  return result
end

--- Dumps the database to `file` and verifies the archive; returns the backup record.
function M.dump(ctx, file)
  file = files.absolute(file)
  local verify = M.verify_mode(ctx)
  local name, size = database.current(ctx)
  -- The server's clock when the dump starts: what a restore of it undoes is everything
  -- the ledger records after this moment.
  local taken_at = ctx:db():value("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
  if not ctx.dry_run then
    -- The archive is private from its first byte (pg_dump keeps the mode of a file it truncates).
    files.write(file, "")
    files.make_private(file)
  end
  local cmd = connection_args(ctx, { "pg_dump", "--format=custom", "--file=" .. file, timeout = 6 * 3600 })
  local census
  local dumped, err = pcall(function()
    if verify == "restore" and not ctx.dry_run then census = dump_in_snapshot(ctx, cmd)
    else shell.run(cmd) end
  end)
  if not dumped then
    -- A dump cut off (disk full, ^C) is not a backup: it must not be found and restored later.
    if not ctx.dry_run then pcall(files.remove, file) end
    error(err, 0)
  end
  if ctx.dry_run then
    if verify == "restore" then
      ctx:log("would take the dump in the snapshot of a REPEATABLE READ transaction (pg_dump --snapshot) that counts " ..
        "the rows of every table, restore it into an ephemeral PostgreSQL %d (pg_restore --no-owner --no-privileges " ..
        "--exit-on-error) and compare each table's count (backup_verify = restore)",
        math.floor(ctx:db():server_version() / 10000))
    end
    return nil
  end
  -- backup_verify = restore: restored and counted before the engine binds it to the plan, so a
  -- backup that does not restore whole is never the plan's.
  local check = verify == "restore" and restore_check(ctx, file, census) or nil
  -- The engine verifies the archive (pg_restore --list reads the whole table of contents)
  -- and, for a plan, binds the backup to it: apply refuses a required backup it did not see.
  local plan = ctx.state.plan
  local proof = plan and plan:attach_backup(file, taken_at) or migrations.verify_backup(file)
  local entries = proof.toc_entries
  local b = {
    path = file, size = proof.size, sha256 = proof.sha256, format = "custom", taken_at = taken_at, plan = proof.plan,
    database = name, database_size = size, toc_entries = entries, verified = verify,
  }
  if check then
    b.restore_check = { server = check.server, tables = #check.tables, rows = check.rows, counts = check.tables,
      mismatches = check.mismatches, ms = check.ms, restore_ms = check.restore_ms, count_ms = check.count_ms }
  end
  ctx:record("backup", b)
  ctx:log("backup %s: %s, sha256 %s, %d archive entries (read back whole: pg_restore --list and --file=/dev/null)",
    file, report.bytes(b.size), b.sha256, entries)
  if check then
    ctx:log("backup %s restore-verify PASS: restored into an ephemeral PostgreSQL %s and counted in %.0f ms; " ..
      "%d table(s), %d row(s), each count equal to the source's in the dump's snapshot", file, check.server, check.ms, #check.tables, check.rows)
  end
  return b
end

--- Step: back up according to the policy, then run the upload_backup hook.
function M.take(ctx)
  local policy = M.policy(ctx)
  if policy == "skip" then
    ctx:log("backup skipped (policy: skip)")
    return
  end
  -- The migration lock comes first: a run that cannot get it backs up nothing.
  if ctx.state.plan then require("lib.migrate").lock(ctx) end
  local name = database.current(ctx)
  local file = M.dir(ctx) .. "/" .. M.file_stem(name) .. "-" .. ctx.run_id .. ".dump"
  local ok, err = pcall(function()
    files.mkdir(M.dir(ctx))  -- 0700 where it creates; an existing (shared) directory keeps its mode
    local b = M.dump(ctx, file)
    ctx.state.backup = b
    if b then hooks.run(ctx, "upload_backup", { backup = file, database = name }) end
  end)
  if not ok then
    if policy == "required" then error(err, 0) end
    ctx:warn("backup failed but the policy makes it optional: %s", tostring(err))
  end
end

--- The newest backup of `database` recorded by an earlier run in the journal directory
--- whose file still exists, or nil.
function M.latest(ctx, name)
  local newest
  records.each(ctx, function(rec)
    for _, b in ipairs(rec.backups or {}) do
      -- Ordered by when the dump started (to the microsecond), not by file name:
      -- two runs in the same second must not be confused.
      if b.database == name and b.taken_at and files.exists(b.path)
          and (not newest or b.taken_at > newest.taken_at) then
        newest = b
        b.run_id, b.runbook = rec.run_id, rec.runbook
      end
    end
  end)
  return newest
end

--- A database name as a file name: anything but letters, digits, `.`, `_` and `-` becomes `_`
--- (a name may hold `/`, spaces or `$(...)`).
function M.file_stem(name)
  return (tostring(name):gsub("[^%w%._%-]", "_"))
end

--- Migrations a restore of `backup` would undo: those the ledger records after the dump.
function M.undone_by(ctx, backup)
  local ledger = migrations.ledger_table(ctx.params.ledger)
  local schema, tbl = ledger:match("^([^.]+)%.(.+)$")
  if not schema then schema, tbl = "public", ledger end
  local db_ = ctx:db()
  if not db_:value("SELECT to_regclass($1) IS NOT NULL", ledger) then return {} end
  local q = db_:value("SELECT format('%I.%I', $1::text, $2::text)", schema, tbl)
  local out = {}
  for _, r in ipairs(db_:query("SELECT filename FROM " .. q .. " WHERE applied_at > $1::timestamptz ORDER BY applied_at DESC, filename DESC", backup.taken_at)) do
    out[#out + 1] = r.filename
  end
  return out
end

--- Restores `backup` into a fresh database, then switches it in place of the current one.
--- The current database is kept under another name: nothing is lost.
function M.restore(ctx, backup)
  local name = database.current(ctx)
  if hash.sha256_file(backup.path) ~= backup.sha256 then
    ctx:fail("backup " .. backup.path .. " does not match the SHA-256 recorded when it was taken; refusing to restore it")
  end
  local admin = database.admin(ctx)
  local stamp = ctx.run_id:gsub("%W", ""):sub(-6)
  local fresh = name .. "_restore_" .. stamp
  if ctx.dry_run then
    ctx:log("would restore %s into a new database %s, then switch it in place of %s (keeping the current one as %s_before_restore_%s)",
      backup.path, fresh, name, name, stamp)
    return
  end
  database.create(ctx, admin, fresh)
  local restore = connection_args(ctx, { "pg_restore", "--no-owner", "--exit-on-error", "--single-transaction",
    timeout = 6 * 3600 }, database.url_for(ctx, fresh))
  restore[#restore + 1] = backup.path
  shell.run(restore)
  database.switch(ctx, admin, name, fresh, name .. "_before_restore_" .. stamp)
  ctx:record("restore", { backup = backup.path, sha256 = backup.sha256, database = name })
  admin:close()
end

return M
