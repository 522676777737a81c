---@meta
-- LuaLS annotations for `require "hash"` (bindings/lua_hash.cpp). Not loaded at run time.
-- tests/check_stubs.py keeps the names here equal to what the binding registers.

---SHA-256 of strings and files, HMAC-SHA-256; lowercase hex output. Reads only: the same in
---dry-run.
---@class hash
local hash = {}

---Lowercase hex SHA-256 of a string.
---@param s string
---@return string hex
function hash.sha256(s) end

---Lowercase hex SHA-256 of a file, read in chunks. Raises `config` naming the path if unreadable.
---@param path string
---@return string hex
function hash.sha256_file(path) end

---Lowercase hex HMAC-SHA-256 of `s` with `key`.
---@param key string
---@param s string
---@return string hex
function hash.hmac_sha256(key, s) end

return hash
