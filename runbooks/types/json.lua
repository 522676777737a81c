---@meta
-- LuaLS annotations for `require "json"` (bindings/lua_json.cpp). Not loaded at run time.
-- tests/check_stubs.py keeps the names here equal to what the binding registers.

---Decode and encode JSON. Pure functions: the same in dry-run.
---@class json
local json = {}

---Parses JSON text. JSON null becomes nil. Invalid JSON raises `config`
---(`json.decode: not valid JSON`).
---@param text string
---@param opts? { keys: string[] } keep only these keys of a top-level object (the rest is skipped while parsing)
---@return any value
function json.decode(text, opts) end

---Encodes a Lua value. A table with only keys 1..n is an array, anything else an object; an
---empty table encodes as `[]`.
---@param value any
---@param pretty? boolean indent by 2
---@return string text
function json.encode(value, pretty) end

return json
