---@meta
-- LuaLS annotations for `require "catalog"` (bindings/lua_catalog.cpp). Not loaded at run time.
-- tests/check_stubs.py keeps the names here equal to what the binding registers.

---The user schema of a database, a diff against an expected one, foreign-key orphans and NOT
---VALID constraints. Read-only in every mode (also dry-run); refused while a runbook is loaded
---for --describe/--list.
---@class catalog
local catalog = {}

---Tables (schema.table, columns with type, NOT NULL and default), indexes (definition, valid)
---and constraints (type, definition, validated) of every schema but pg_catalog,
---information_schema, pg_toast and the temporary ones. A plain table: `ctx:record` it as is.
---@param conn db.Connection
---@return table snapshot {database=, server_version=, tables=, indexes=, constraints=}
function catalog.snapshot(conn) end

---Every difference of `actual` from `expected`, one sentence each naming the object
---("column public.users.email is missing"), in a fixed order. Empty when they agree.
---@param expected table|string a snapshot, or its JSON text
---@param actual table|string a snapshot, or its JSON text
---@return string[] differences
function catalog.diff(expected, actual) end

---For each foreign key: child rows with all referencing columns non-null and no parent row.
---Tables larger than `sample` rows are sampled (TABLESAMPLE SYSTEM); at most `sample` rows each.
---@param conn db.Connection
---@param opts? {sample?: integer} default 100000
---@return {constraint: string, table: string, parent: string, columns: string[], validated: boolean, checked: integer, orphans: integer, example?: string, sampled: boolean}[]
function catalog.fk_orphans(conn, opts) end

---Constraints added NOT VALID and never validated.
---@param conn db.Connection
---@return {name: string, table: string, type: string, definition: string}[]
function catalog.not_valid(conn) end

return catalog
