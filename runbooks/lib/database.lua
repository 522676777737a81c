-- Whole-database operations through the server's maintenance database: create a fresh
-- database, switch it in place of the current one, drop. Used by staging-rebuild (seed 000)
-- and by rollback's restore (seed 001).
local db = require "db"

local M = {}

--- A connection to the maintenance database ("postgres") of the same server.
function M.admin(ctx)
  return db.connect { url = ctx:database_url(), dbname = "postgres", application_name = "runbook " .. ctx.runbook }
end

function M.quote_ident(admin, name) return admin:value("SELECT format('%I', $1::text)", name) end

function M.exists(admin, name)
  return admin:value("SELECT count(*) FROM pg_database WHERE datname = $1", name) > 0
end

--- The current database's name and size in bytes.
function M.current(ctx)
  local row = ctx:db():query_row("SELECT current_database() AS name, pg_database_size(current_database()) AS size")
  return row.name, row.size
end

--- Puts database `fresh` in place of `target`: no new connections to target, end its
--- sessions, rename target to `keep_as`, rename fresh to target. Drops the old one unless
--- `keep_as` is given.
function M.switch(ctx, admin, target, fresh, keep_as)
  ctx:close() -- our own session to the target must go too
  local old = keep_as or (target .. "_old_" .. ctx.run_id:gsub("%W", ""):sub(-6))
  local qt, qf, qo = M.quote_ident(admin, target), M.quote_ident(admin, fresh), M.quote_ident(admin, old)
  admin:exec("ALTER DATABASE " .. qt .. " ALLOW_CONNECTIONS false")
  admin:query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", target)
  local ok, err
  for attempt = 1, 10 do
    ok, err = pcall(admin.exec, admin, "ALTER DATABASE " .. qt .. " RENAME TO " .. qo)
    if ok then break end
    admin:query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", target)
    admin:query("SELECT pg_sleep(0.2)")
  end
  if not ok then
    admin:exec("ALTER DATABASE " .. qt .. " ALLOW_CONNECTIONS true")
    ctx:fail("cannot take database " .. target .. " out of use: " .. tostring(err) .. "\n  Nothing was switched; " .. fresh .. " holds the new copy.")
  end
  admin:exec("ALTER DATABASE " .. qf .. " RENAME TO " .. qt)
  ctx:record("database_switch", { target = target, replaced_by = fresh, old = old, kept = keep_as ~= nil })
  if keep_as then
    ctx:log("switched: %s now holds the new copy; the previous database is kept as %s", target, old)
  else
    admin:exec("DROP DATABASE " .. qo)
    ctx:log("switched: %s now holds the new copy; the previous database was dropped", target)
  end
end

--- Creates an empty database named `name` (dropping a leftover of a failed earlier attempt).
function M.create(ctx, admin, name)
  local q = M.quote_ident(admin, name)
  admin:exec("DROP DATABASE IF EXISTS " .. q)
  admin:exec("CREATE DATABASE " .. q)
  ctx:log("created database %s", name)
end

--- A connection URL for another database of the same server.
function M.url_for(ctx, name) return db.with_database(ctx:database_url(), name) end

return M
