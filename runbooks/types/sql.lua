---@meta
-- LuaLS annotations for `require "sql"` (bindings/lua_sql.cpp). Not loaded at run time.
-- tests/check_stubs.py keeps the names here equal to what the binding registers.

---SQL analysis and lint with PostgreSQL's own parser (PostgreSQL 15 grammar). Never touches a
---database: the same in dry-run. A syntax error raises `config` naming the file and line.
---@class sql
local sql = {}

---@class sql.AnalyzeOptions
---@field server_version_num? integer decides version-dependent cases; default 150000

---@class sql.LintOptions: sql.AnalyzeOptions
---@field new_tables? string[] tables (`"t"` or `"s.t"`) created elsewhere: not reported

---@class sql.Statement
---@field text string the statement as written
---@field line integer its first line
---@field kind string the parse node name (`CreateStmt`, `IndexStmt`, ...)
---@field transaction_control boolean BEGIN/COMMIT/SAVEPOINT/...
---@field no_transaction_reason? string why it cannot run in a transaction; nil when it can

---@class sql.Script
---@field statements sql.Statement[]
---@field manages_own_transaction boolean the file has a top-level BEGIN/COMMIT/...
---@field needs_no_transaction boolean some statement has a `no_transaction_reason`
---@field extensions_created string[] names from CREATE EXTENSION, in file order

---@class sql.Finding
---@field file string
---@field line integer
---@field rule string e.g. `"drop-table"`, `"create-index-not-concurrently"`
---@field severity "warning"|"error"
---@field message string
---@field destructive boolean

---Splits and analyses SQL text.
---@param text string
---@param filename? string used in messages; default `"<sql>"`
---@param opts? sql.AnalyzeOptions
---@return sql.Script script
function sql.analyze(text, filename, opts) end

---Lints SQL text. Operations on tables the script itself creates earlier (or listed in
---`new_tables`) are not reported.
---@param text string
---@param filename? string used in findings; default `"<sql>"`
---@param opts? sql.LintOptions
---@return sql.Finding[] findings
function sql.lint(text, filename, opts) end

return sql

---Limits of `sql.excerpt`.
---@class sql.ExcerptLimits
---@field max_lines? integer default 200
---@field max_bytes? integer default 16384

---The text as the review shows it: whole when it is within the limits, else its first lines
---and a line naming what was left out (lines, bytes, the file's statement count, where the
---whole file is). The engine's bound; no parsing.
---@param text string
---@param filename? string named in the note; default `"<sql>"`
---@param statements? integer the file's statement count, for the note
---@param limits? sql.ExcerptLimits
---@return string excerpt
---@return boolean cut true when something was left out
function sql.excerpt(text, filename, statements, limits) end
