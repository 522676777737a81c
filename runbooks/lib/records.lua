-- Earlier runs' records (the JSON files in the journal directory): how a runbook finds what an
-- earlier run left — the backup rollback restores, the schema post-verify expects.
local files = require "files"
local json = require "json"

local M = {}

--- Calls `fn(record)` for each earlier run's record in the journal directory that reads as
--- JSON (this run's own excluded), in no particular order.
function M.each(ctx, fn)
  local dir = ctx.journal_dir
  if not dir or dir == "" or not files.exists(dir) then return end
  for _, f in ipairs(files.list(dir)) do
    if f:match("%.json$") then
      local ok, rec = pcall(json.decode, files.read(dir .. "/" .. f))
      if ok and type(rec) == "table" and rec.run_id ~= ctx.run_id then fn(rec) end
    end
  end
end

--- The newest earlier run's record for which `pred(record)` is true, or nil. Run ids (the file
--- names) start with their UTC start time, so records are read newest first and the search
--- stops at the first match: one record read in the usual case, however long the journal.
--- `keys`: read only these top-level keys of each record (its header, not its events).
function M.newest(ctx, pred, keys)
  local dir = ctx.journal_dir
  if not dir or dir == "" or not files.exists(dir) then return nil end
  local names = {}
  for _, f in ipairs(files.list(dir)) do
    if f:match("%.json$") then names[#names + 1] = f end
  end
  table.sort(names, function(a, b) return a > b end)
  for _, f in ipairs(names) do
    local ok, rec = pcall(json.decode, files.read(dir .. "/" .. f), keys and { keys = keys } or nil)
    if ok and type(rec) == "table" and rec.run_id ~= ctx.run_id and pred(rec) then return rec end
  end
  return nil
end

--- The events of `kind` in `record` (ctx:record(kind, detail) in any step), in order.
function M.events(record, kind)
  local out = {}
  for _, step in ipairs(record.steps or {}) do
    for _, e in ipairs(step.events or {}) do
      if (e.event or e.kind) == kind then out[#out + 1] = e end  -- "kind" in records before schema 1
    end
  end
  return out
end

--- The server and database of a record's `database` field ("host:port/name as user"), without
--- the user: runs as different roles on one database are runs on the same database.
function M.database_key(description)
  return description and (tostring(description):gsub(" as .*$", "")) or nil
end

--- This run's database as M.database_key says it.
function M.this_database(ctx)
  return M.database_key((tostring(ctx:db()):gsub("^db connection ", "")))
end

--- The newest event of `kind` in the record of a run that succeeded live on this run's
--- database, and that record; nil when there is none. Newest by when the event was recorded.
--- `opts.any_status`: of any live run, whatever its outcome (values read before a change are
--- still what the database held then when the run failed afterwards). `opts.where(event)`:
--- only events it returns true for. `opts.mode`: of runs in that mode ("rehearse") instead of live ones.
function M.latest_event(ctx, kind, opts)
  local here = M.this_database(ctx)
  local any_status = opts and opts.any_status
  local where = opts and opts.where
  local mode = opts and opts.mode or "live"
  local newest, newest_rec
  M.each(ctx, function(rec)
    if (rec.status ~= "succeeded" and not any_status) or rec.mode ~= mode or M.database_key(rec.database) ~= here then return end
    for _, e in ipairs(M.events(rec, kind)) do
      if (not where or where(e)) and (not newest or (e.at or "") > (newest.at or "")) then newest, newest_rec = e, rec end
    end
  end)
  return newest, newest_rec
end

return M
