---@meta
-- LuaLS annotations for `require "shell"` (bindings/lua_shell.cpp). Not loaded at run time.
-- tests/check_stubs.py keeps the names here equal to what the binding registers.

---Runs programs from an argv list, honouring dry-run and masking secrets in everything said,
---recorded or raised.
---@class shell
local shell = {}

---The table given to `shell.run`: its positional strings are the argv (no shell is involved
---unless `shell = true`), plus these options.
---@class shell.RunSpec
---@field [integer] string the program and its arguments
---@field timeout? number seconds; then SIGTERM to the process group, SIGKILL 2 s later; default 0 (none)
---@field env? table<string, string|number> added to (or overriding) the inherited environment
---@field cwd? string working directory
---@field stdin? string text written to the program's stdin
---@field capture_limit? integer bytes kept per stream; default 1048576
---@field secrets? string[] redacted in what this call prints, records or raises
---@field check? boolean raise `failed` on a non-zero exit, a signal or a timeout; default true
---@field read_only? boolean the command changes nothing: run it in dry-run too; default false
---@field shell? boolean give exactly one string; it runs as `/bin/sh -c STRING`; default false

---@class shell.Result
---@field code number exit code; -1 when a signal ended the program
---@field signal number the terminating signal, 0 if none
---@field timed_out boolean
---@field stdout string
---@field stderr string
---@field stdout_truncated boolean more than `capture_limit` bytes were written
---@field stderr_truncated boolean
---@field duration_ms number
---@field dry_run boolean true when the command was only announced

---Runs a program. With `check` (the default) a failure raises `failed` with the last 20 lines of
---stderr; a program that cannot be started raises `failed`; bad options raise `config`.
---Recorded (`shell`: argv, cwd, code, signal, timed_out, duration; not the output).
---Dry-run (unless `read_only = true`): prints `would run: ARGV`, records it, runs nothing and
---returns `{ code = 0, stdout = "", stderr = "", dry_run = true, ... }`.
---@param spec shell.RunSpec
---@return shell.Result result
function shell.run(spec) end

---The full path of an executable: a name with a `/` is checked as given, otherwise PATH is
---searched. Same in dry-run.
---@param name string
---@return string|nil path nil when not found
function shell.which(name) end

return shell
