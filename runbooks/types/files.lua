---@meta
-- LuaLS annotations for `require "files"` (bindings/lua_files.cpp). Not loaded at run time.
-- tests/check_stubs.py keeps the names here equal to what the binding registers.

---Reading and (mode-aware) writing of files. Errors raise `config` naming the path.
---@class files
local files = {}

---@class files.WriteOptions
---@field overwrite? boolean replace an existing file; default false

---Bytes available on the file system holding `path` (or its nearest existing parent).
---Same in dry-run.
---@param path string
---@return number bytes
function files.free_space(path) end

---`path` made absolute (against the current directory) and lexically normalised. Same in dry-run.
---@param path string
---@return string absolute
function files.absolute(path) end

---Restricts a file to its owner (0600, directories 0700).
---Dry-run: does nothing (a change to the file system).
---@param path string
function files.make_private(path) end

---Creates a directory and its parents.
---The directories it creates are 0700 (backups and records hold production data); an existing
---directory's mode is never changed.
---Dry-run: prints `would create directory DIR` and creates nothing.
---@param dir string
function files.mkdir(dir) end

---The content of a file. Same in dry-run.
---@param path string
---@return string content
function files.read(path) end

---Writes a file through a temporary file and a rename, creating parent directories; an existing
---file is an error without `overwrite`. Recorded (`file`: path, bytes).
---Dry-run: prints `would write PATH (N bytes)`, records it, writes nothing, returns false.
---@param path string
---@param content string
---@param opts? files.WriteOptions
---@return boolean written true when written, false in dry-run
function files.write(path, content, opts) end

---Whether `path` exists. Same in dry-run.
---@param path string
---@return boolean
function files.exists(path) end

---Removes a file, never a directory (a partial backup); false when there was none. In dry-run
---it only says what it would remove.
---@param path string
---@return boolean removed
function files.remove(path) end

---Sorted names of the regular files in `dir`. Same in dry-run.
---@param dir string
---@return string[] names
function files.list(dir) end

---The size of a file in bytes. Same in dry-run.
---@param path string
---@return number bytes
function files.size(path) end

return files
