-- The runbook core: how a runbook is defined, composed, validated and run.
-- Embedded in the binary as "@runbook.lua"; runbooks use it through `require "runbook"`.
local host = require "runbook.host"

local M = {}

---------------------------------------------------------------------------
-- Errors: tables with a kind, so the engine can map them to exit codes.
---------------------------------------------------------------------------
local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.message end

-- The message is what the operator reads; the runbook line that raised it is kept apart
-- (`where`, shown with -v), so no internal lib/*.lua:NNN: leads an operator-facing error.
local function make_error(kind, message, level)
  local where
  if level and level > 0 then
    local info = debug.getinfo(level + 1, "Sl")
    if info and info.currentline and info.currentline > 0 then
      where = info.short_src .. ":" .. info.currentline
    end
  end
  return setmetatable({ kind = kind, message = tostring(message), where = where }, Error)
end

--- Fails the current step (exit code 1).
function M.fail(message) error(make_error("failed", message, 2), 0) end
--- Stops the run on purpose (exit code 3).
function M.abort(message) error(make_error("aborted", message, 2), 0) end
--- A verification gate did not pass (exit code 4).
function M.verify_failed(message) error(make_error("verify_failed", message, 2), 0) end
--- Bad configuration or parameters (exit code 2).
function M.config_error(message) error(make_error("config", message, 2), 0) end

local function raise_config(message) error(make_error("config", message, 0), 0) end

---------------------------------------------------------------------------
-- Parameters
---------------------------------------------------------------------------
local TYPES = { string = true, number = true, integer = true, boolean = true, duration = true, enum = true }

local function parse_value(p, raw, source)
  local t = p.type
  local function bad(why)
    return nil, string.format("parameter %s (%s): %s", p.name, source, why)
  end
  if raw == nil then return nil end
  -- A secret's value never appears in a message (it is not registered with the redactor yet).
  local function shown(v) return p.secret and "***" or string.format("%q", tostring(v)) end
  if t == "string" then
    if type(raw) ~= "string" then return bad("expected a string, got " .. type(raw)) end
    return raw
  elseif t == "number" or t == "integer" then
    local n = tonumber(raw)
    if not n then return bad("expected a number, got " .. shown(raw)) end
    if t == "integer" and n ~= math.floor(n) then return bad("expected an integer, got " .. shown(raw)) end
    if p.min and n < p.min then return bad("must be at least " .. p.min) end
    return n
  elseif t == "boolean" then
    if type(raw) == "boolean" then return raw end
    local s = tostring(raw):lower()
    if s == "true" or s == "yes" or s == "on" or s == "1" then return true end
    if s == "false" or s == "no" or s == "off" or s == "0" then return false end
    return bad("expected true or false, got " .. shown(raw))
  elseif t == "duration" then
    local s = tostring(raw)
    if s == "0" then return s end
    local n, unit = s:match("^(%d+)%s*(%a+)$")
    local units = { ms = true, s = true, min = true, h = true, d = true }
    if not n or not units[unit] then
      return bad("expected a duration such as 500ms, 5s, 2min or 1h, got " .. shown(s))
    end
    return n .. unit
  elseif t == "enum" then
    for _, c in ipairs(p.choices) do
      if c == raw then return raw end
    end
    return bad(string.format("expected one of %s, got %s", table.concat(p.choices, ", "), shown(raw)))
  end
end

--- Registers a secret: masked in everything printed, logged or recorded from now on.
function M.add_secret(value)
  if type(value) == "string" then host.add_secret(value) end
end

--- Seconds in a duration string ("5s" -> 5, "2min" -> 120).
function M.seconds(duration)
  if duration == nil or duration == "" or duration == "0" then return 0 end
  local n, unit = tostring(duration):match("^(%d+)%s*(%a+)$")
  local scale = { ms = 0.001, s = 1, min = 60, h = 3600, d = 86400 }
  if not n or not scale[unit] then error("not a duration: " .. tostring(duration), 2) end
  return tonumber(n) * scale[unit]
end

local function check_param_spec(p, where)
  if type(p) ~= "table" or type(p.name) ~= "string" then
    raise_config(where .. ": each parameter needs a name")
  end
  if not TYPES[p.type or "string"] then
    raise_config(string.format("%s: parameter %s has unknown type %q (use string, number, integer, boolean, duration or enum)",
      where, p.name, tostring(p.type)))
  end
  p.type = p.type or "string"
  if p.type == "enum" and type(p.choices) ~= "table" then
    raise_config(where .. ": enum parameter " .. p.name .. " needs choices")
  end
  if p.default ~= nil then
    local _, err = parse_value(p, p.default, "default")
    if err then raise_config(where .. ": " .. err) end
  end
end

---------------------------------------------------------------------------
-- Runbook definition and composition
---------------------------------------------------------------------------
local Runbook = {}
Runbook.__index = Runbook
M.Runbook = Runbook

-- The file being loaded, for messages and --describe. Runbooks end with a tail call
-- (`return runbook.define{...}`), which erases their frame, so debug.getinfo cannot say.
local loading = {}
local function current_file() return loading[#loading] or "?" end

local function run_file(file, ...)
  local chunk, err = loadfile(file)
  if not chunk then error(make_error("config", err, 0), 0) end
  loading[#loading + 1] = file
  local result = chunk(...)
  loading[#loading] = nil
  return result
end

--- Loads a runbook file (the host's entry point).
function M.load_file(file)
  loading = {}
  return run_file(file)
end

-- require() of Lua files goes through run_file, so composed runbooks know their file too.
package.loaders[2] = function(name)
  local file, err = package.searchpath(name, package.path)
  if not file then return err end
  return function(...) return run_file(file, ...) end
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- A time limit ("30s", "10min", "2h"): nil when absent, the seconds otherwise.
local function check_timeout(value, what)
  if value == nil then return nil end
  local ok, seconds = pcall(M.seconds, value)
  if not ok or seconds <= 0 then
    raise_config(string.format("%s: timeout %q is not a duration such as 30s, 10min or 2h", what, tostring(value)))
  end
  return seconds
end

local function check_step(s, where)
  if type(s) ~= "table" or type(s.name) ~= "string" or s.name == "" then
    raise_config(where .. ": a step needs a name")
  end
  if type(s.run) ~= "function" then
    raise_config(where .. ": step " .. s.name .. " needs a run function")
  end
  check_timeout(s.timeout, where .. ": step " .. s.name)
  return s
end

--- A step: a name, a one-line description, a function(ctx) and options: `timeout` ("10min")
--- stops the step like ^C does when it runs longer.
function M.step(name, description, run, options)
  if type(description) == "function" then description, run, options = nil, description, run end
  options = options or {}
  return { name = name, description = description or "", run = run, timeout = options.timeout }
end

--- A gate: a step that --only, --from and --skip never leave out (connections, parity,
--- confirmations, required backups): policy must not depend on how the run was started.
function M.gate(name, description, run, options)
  local s = M.step(name, description, run, options)
  s.gate = true
  return s
end

local DEFINE_KEYS = { name = true, description = true, params = true, settings = true, steps = true,
  on_failure = true, finally = true, timeout = true }

--- Defines a runbook from a spec: name, description, params, settings, steps, on_failure.
function M.define(spec)
  local where = current_file()
  if type(spec) ~= "table" then raise_config(where .. ": runbook.define expects a table") end
  for k in pairs(spec) do
    if not DEFINE_KEYS[k] then
      raise_config(string.format("%s: unknown key %q in runbook.define (known: name, description, params, settings, steps, on_failure, finally, timeout)", where, tostring(k)))
    end
  end
  local rb = setmetatable({
    name = spec.name or where:match("([^/]+)%.lua$") or where,
    description = spec.description or "",
    source = where,
    params = {},
    settings = copy(spec.settings or {}),
    steps = {},
    on_failure = spec.on_failure,
    finally = spec.finally,
    timeout = spec.timeout,
  }, Runbook)
  check_timeout(rb.timeout, where .. ": runbook " .. rb.name)
  local seen = {}
  for i, p in ipairs(spec.params or {}) do
    check_param_spec(p, where)
    if seen[p.name] then raise_config(where .. ": parameter " .. p.name .. " is declared twice") end
    seen[p.name] = true
    rb.params[i] = copy(p)
  end
  local names = {}
  for i, s in ipairs(spec.steps or {}) do
    check_step(s, where)
    if names[s.name] then raise_config(where .. ": step " .. s.name .. " is declared twice") end
    names[s.name] = true
    rb.steps[i] = s
  end
  return rb
end

function M.is_runbook(v) return getmetatable(v) == Runbook end

function Runbook:clone()
  local c = setmetatable(copy(self), Runbook)
  c.params, c.steps, c.settings = {}, {}, copy(self.settings)
  for i, p in ipairs(self.params) do c.params[i] = copy(p) end
  for i, s in ipairs(self.steps) do c.steps[i] = s end
  c.source = current_file()
  return c
end

function Runbook:param(name)
  for _, p in ipairs(self.params) do
    if p.name == name then return p end
  end
end

function Runbook:step_index(name)
  for i, s in ipairs(self.steps) do
    if s.name == name then return i end
  end
end

local function require_step(rb, name)
  local i = rb:step_index(name)
  if not i then
    local known = {}
    for _, s in ipairs(rb.steps) do known[#known + 1] = s.name end
    raise_config(string.format("%s: runbook %s has no step %q (steps: %s)", current_file(),
      rb.name, tostring(name), table.concat(known, ", ")))
  end
  return i
end

-- Settings that are policy: changing one in a composition is written into the run record,
-- and the engine says whether it loosened the policy (engine/plan.hpp: loosens).
local POLICY_SETTINGS = { confirm = true, backup = true, maintenance = true, acknowledge_destructive = true }

--- A copy with parameter defaults and settings changed: `apply:with{ lock_timeout = "5s" }`.
--- `name` and `description` rename the copy. Unknown keys are an error (a typo is not policy).
function Runbook:with(overrides)
  local c = self:clone()
  c.policy_changes = {}
  for i, change in ipairs(self.policy_changes or {}) do c.policy_changes[i] = change end
  for k, v in pairs(overrides) do
    if k == "name" or k == "description" or k == "on_failure" or k == "finally" then
      c[k] = v
    elseif k == "timeout" then
      check_timeout(v, current_file() .. ": " .. self.name .. ":with")
      c.timeout = v
    elseif c:param(k) then
      local p = c:param(k)
      local value, err = parse_value(p, v, "with")
      if err then raise_config(current_file() .. ": " .. err) end
      p.default = value
    elseif c.settings[k] ~= nil then
      if POLICY_SETTINGS[k] and c.settings[k] ~= v then
        c.policy_changes[#c.policy_changes + 1] = { key = k, from = tostring(c.settings[k]), to = tostring(v), by = current_file() }
      end
      c.settings[k] = v
    else
      local known = {}
      for _, p in ipairs(c.params) do known[#known + 1] = p.name end
      for s in pairs(c.settings) do known[#known + 1] = s end
      table.sort(known)
      raise_config(string.format("%s: %s has no parameter or setting %q (known: %s)",
        current_file(), self.name, tostring(k), table.concat(known, ", ")))
    end
  end
  return c
end

function Runbook:insert_before(name, step)
  local c = self:clone()
  table.insert(c.steps, require_step(c, name), check_step(step, c.source))
  return c
end

function Runbook:insert_after(name, step)
  local c = self:clone()
  table.insert(c.steps, require_step(c, name) + 1, check_step(step, c.source))
  return c
end

function Runbook:append(step)
  local c = self:clone()
  c.steps[#c.steps + 1] = check_step(step, c.source)
  return c
end

--- Replaces a step; `replacement` is a step table or just a function keeping name and description.
function Runbook:replace(name, replacement)
  local c = self:clone()
  local i = require_step(c, name)
  if type(replacement) == "function" then
    replacement = { name = c.steps[i].name, description = c.steps[i].description, run = replacement }
  end
  check_step(replacement, c.source)
  -- A gate stays a gate: replacing how a confirmation asks must not make it skippable.
  if c.steps[i].gate and not replacement.gate then
    replacement = { name = replacement.name, description = replacement.description, run = replacement.run, gate = true }
  end
  c.steps[i] = replacement
  return c
end

function Runbook:remove(name)
  local c = self:clone()
  table.remove(c.steps, require_step(c, name))
  return c
end

--- Adds a parameter to a composed runbook.
function Runbook:add_param(p)
  local c = self:clone()
  check_param_spec(p, c.source)
  if c:param(p.name) then raise_config(c.source .. ": parameter " .. p.name .. " already exists") end
  c.params[#c.params + 1] = copy(p)
  return c
end

---------------------------------------------------------------------------
-- Environments file
---------------------------------------------------------------------------
local ENV_KEYS = {
  description = "string", database_env = "string", disposable = "boolean", confirm = "string",
  lock_timeout = "string", statement_timeout = "string", migrations = "string", ledger = "string",
  backup = "string", backup_dir = "string", backup_verify = "string", health_checks = "table", parity_url = "string",
  expected_tables = "table", expected_indexes = "table", smoke_sql = "table", hooks = "table",
  max_connections = "number", long_transaction = "string", secrets_env = "table",
  not_valid_ok = "table", fk_sample = "number", require_rehearsal = "string", min_soak = "string",
  compare = "table", checklist = "table", approvals = "table", notify = "table", watch_failure = "string",
}
local HOOK_KEYS = { pause_workers = true, resume_workers = true, maintenance_on = true, maintenance_off = true,
  upload_backup = true }
M.ENV_KEYS = ENV_KEYS

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local EXPECT_OPS = { ">=", "<=", "!=", "=", ">", "<" }

--- The `expect` of a smoke query: an operator (=, !=, >=, >, <=, <) and a number ("= 0",
--- ">= 1"), a Lua number (the same as "= n"), or any other text: the value's text must equal it.
--- Returns `{ op =, number =, text = }` (op "text" with `value` for a bare value), or nil and
--- what is wrong with it.
function M.parse_expect(expect)
  if type(expect) == "number" and expect == expect then return { op = "=", number = expect, text = "= " .. tostring(expect) } end
  if type(expect) ~= "string" then return nil, "must be a string such as \">= 1\", got " .. type(expect) end
  local s = expect:match("^%s*(.-)%s*$")
  if s == "" then return nil, "is empty (write \"= 0\", \">= 1\", ... or the value expected)" end
  for _, op in ipairs(EXPECT_OPS) do
    if s:sub(1, #op) == op then
      local rest = s:sub(#op + 1):match("^%s*(.-)$")
      local n = tonumber(rest)
      if not n or n ~= n then
        return nil, string.format("%s needs a number after it, got %q (operators: =, !=, >=, >, <=, <; " ..
          "without an operator the value is compared as text)", op, rest)
      end
      return { op = op, number = n, text = op .. " " .. rest }
    end
  end
  return { op = "text", value = s, text = s }
end

local COMPARE_MUSTS = { not_shrink = true, equal = true, grow = true }
local COMPARE_KEYS = { name = true, sql = true, must = true }

local function shown(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "number" and type(v) ~= "boolean" and v ~= nil then return "(a " .. type(v) .. ")" end
  local ok, text = pcall(tostring, v)
  return ok and type(text) == "string" and text or type(v)
end

-- Problems of the smoke_sql entries' `expect` and of the `compare` list, each naming its entry.
local function check_expectations(env, problems)
  if type(env.smoke_sql) == "table" then
    for i, s in ipairs(env.smoke_sql) do
      if type(s) == "table" and s.expect ~= nil then
        local _, err = M.parse_expect(s.expect)
        if err then
          problems[#problems + 1] = string.format("smoke_sql[%d] %s: expect %s: %s", i, shown(s.name or s.sql), shown(s.expect), err)
        end
      end
    end
  end
  if type(env.compare) ~= "table" then return end
  for k in pairs(env.compare) do
    if type(k) ~= "number" or k < 1 or k > #env.compare or k ~= math.floor(k) then
      problems[#problems + 1] = string.format("compare[%s]: compare is a list: compare = { { name = \"orders\", " ..
        "sql = \"SELECT count(*) FROM orders\", must = \"not_shrink\" } }", shown(k))
    end
  end
  local seen = {}
  for k, c in ipairs(env.compare) do
    local label = "compare[" .. k .. "]"
    if type(c) ~= "table" then
      problems[#problems + 1] = label .. " must be a table { name =, sql =, must = }, got " .. type(c)
    else
      if type(c.name) == "string" and c.name ~= "" then
        label = label .. " " .. shown(c.name)
        if seen[c.name] then problems[#problems + 1] = label .. ": the name is used twice" end
        seen[c.name] = true
      else
        problems[#problems + 1] = label .. " needs a name (a string)"
      end
      for ck in pairs(c) do
        if not COMPARE_KEYS[ck] then problems[#problems + 1] = string.format("%s: unknown key %s (known: must, name, sql)", label, shown(ck)) end
      end
      if type(c.sql) ~= "string" or c.sql == "" then
        problems[#problems + 1] = label .. " needs sql, a query returning one value (\"SELECT count(*) FROM orders\")"
      end
      if not COMPARE_MUSTS[c.must] then
        problems[#problems + 1] = string.format("%s: must %s is not one of not_shrink, equal, grow", label, shown(c.must))
      end
    end
  end
end

--- Loads and validates the environments file; returns the named environment.
function M.load_environment(file, name)
  local chunk, err = loadfile(file)
  if not chunk then
    if err:match("No such file") or err:match("cannot open") then
      raise_config(string.format("--env %s: environments file %s not found (set --environments FILE or RUNBOOK_ENVIRONMENTS)", name, file))
    end
    raise_config(err)
  end
  local ok, envs = pcall(chunk)
  if not ok then raise_config(tostring(envs)) end
  if type(envs) ~= "table" then raise_config(file .. ": must return a table of environments") end
  local env = envs[name]
  if type(env) ~= "table" then
    raise_config(string.format("%s: no environment %q (defined: %s)", file, name, table.concat(sorted_keys(envs), ", ")))
  end
  local problems = {}
  for k, v in pairs(env) do
    local want = ENV_KEYS[k]
    if not want then
      problems[#problems + 1] = string.format("unknown key %q (known: %s)", tostring(k), table.concat(sorted_keys(ENV_KEYS), ", "))
    elseif type(v) ~= want then
      problems[#problems + 1] = string.format("%s must be a %s, got %s", k, want, type(v))
    end
  end
  if type(env.hooks) == "table" then
    for k, v in pairs(env.hooks) do
      if not HOOK_KEYS[k] then
        problems[#problems + 1] = string.format("unknown hook %q (known: %s)", tostring(k), table.concat(sorted_keys(HOOK_KEYS), ", "))
      elseif type(v) ~= "table" then
        problems[#problems + 1] = string.format("hook %s must be an argv list such as {\"kubectl\", \"scale\", ...}", k)
      end
    end
  end
  -- A file of odd tables (metatables that raise) gets a configuration error too, never a Lua one.
  local read, why = pcall(check_expectations, env, problems)
  if not read then
    problems[#problems + 1] = "smoke_sql or compare could not be read: " .. (type(why) == "string" and why or type(why))
  end
  if env.backup and env.backup ~= "required" and env.backup ~= "optional" and env.backup ~= "skip" then
    problems[#problems + 1] = string.format("backup must be \"required\", \"optional\" or \"skip\", got %q", env.backup)
  end
  if type(env.backup_verify) == "string" and env.backup_verify ~= "read" and env.backup_verify ~= "restore" then
    problems[#problems + 1] = string.format("backup_verify must be \"read\" or \"restore\", got %q", env.backup_verify)
  end
  if env.database_env == nil then
    problems[#problems + 1] = "database_env is required: the name of the environment variable holding the database URL"
  elseif os.getenv(env.database_env) == nil or os.getenv(env.database_env) == "" then
    problems[#problems + 1] = string.format("environment variable %s (database_env) is not set", env.database_env)
  end
  for _, var in ipairs(env.secrets_env or {}) do
    local v = os.getenv(var)
    if v then host.add_secret(v) end
  end
  if #problems > 0 then
    raise_config(string.format("%s: environment %s:\n  - %s", file, name, table.concat(problems, "\n  - ")))
  end
  env = copy(env)
  env.name = name
  env.database_url = os.getenv(env.database_env)
  host.add_secret_url(env.database_url)
  return env
end

---------------------------------------------------------------------------
-- Run context handed to every step
---------------------------------------------------------------------------
local Context = {}
Context.__index = Context

function Context:log(fmt, ...) host.say("info", select("#", ...) > 0 and string.format(fmt, ...) or tostring(fmt)) end
function Context:warn(fmt, ...) host.say("warn", select("#", ...) > 0 and string.format(fmt, ...) or tostring(fmt)) end
function Context:detail(fmt, ...) host.say("debug", select("#", ...) > 0 and string.format(fmt, ...) or tostring(fmt)) end
--- Adds an event to the run record (kinds "check", "backup", "artifact" are also listed at the top).
function Context:record(kind, detail) host.event(kind, detail or {}) end
--- Sets a top-level field of the run record (e.g. the plan it ran).
function Context:note(key, value) host.journal_set(key, value) end
function Context:artifact(name, value) host.event("artifact", { name = name, value = value }) end
-- Deliberate failures speak to the operator: no Lua file:line in front (the step is named).
function Context:fail(message) error(make_error("failed", message, 0), 0) end
function Context:abort(message) error(make_error("aborted", message, 0), 0) end
function Context:verify_failed(message) error(make_error("verify_failed", message, 0), 0) end
function Context:config_error(message) error(make_error("config", message, 0), 0) end
--- Ends the run, once its steps are done, with an outcome that is not an error but has its own
--- exit code: "pending" (5, status.lua found migrations to apply). The last call wins.
function Context:conclude(outcome)
  if outcome ~= "pending" then error(make_error("config", "ctx:conclude: unknown outcome " .. tostring(outcome) .. " (known: pending)", 0), 0) end
  self._outcome = outcome
end

--- Asks the operator. `{ token = "PROD-OK" }` asks for a typed token (answered by --confirm);
--- `{ question = "Apply 3 migrations?" }` asks yes/no (answered by --yes). Aborts on refusal.
function Context:confirm(opts)
  if type(opts) == "string" then opts = { question = opts } end
  host.confirm(opts.question or "Continue?", opts.token or "")
  self:record("confirmation", { question = opts.question, token_required = opts.token ~= nil })
end

--- Waits `seconds` (a number, or a duration such as "1m"); ^C, SIGTERM or a time limit stop the
--- wait at once (aborted, exit 3). Dry-run waits too: a wait changes nothing.
function Context:sleep(seconds)
  if type(seconds) == "string" then seconds = M.seconds(seconds) end
  host.sleep(seconds)
end

--- A checklist a person answers item by item: ticked at a terminal, or named with --check ID or
--- in a --checklist FILE; --yes and --confirm never tick it. Items are strings or
--- { id = , text = }. Aborts (exit 3) naming what is not ticked; dry-run only says so.
--- Returns the outcome { complete, items = { {id, text, ticked, by, how} } }, also recorded.
function Context:checklist(title, items)
  self:log("%s", title)
  local outcome = host.checklist(items)
  for _, item in ipairs(outcome.items) do
    if item.ticked then self:log("  [x] %s (%s) — %s, %s", item.text, item.id, item.by, item.how)
    else self:log("  [ ] %s (%s)", item.text, item.id) end
  end
  self:record("checklist", { title = title, complete = outcome.complete, items = outcome.items })
  if not outcome.complete then
    if self.dry_run then self:warn("%s", outcome.message:gsub(" Nothing was changed%.$", " A live run stops here."))
    else self:abort(outcome.message) end
  end
  return outcome
end

--- The database URL of this run: the environment's variable, else DATABASE_URL, else ""
--- (libpq's PGHOST, PGDATABASE, ... and .pgpass).
function Context:database_url()
  return self.env and self.env.database_url or os.getenv("DATABASE_URL") or ""
end

--- The database of this run, opened once (read-only in dry-run, and for a runbook whose
--- settings say `read_only = true`).
function Context:db()
  if self._db and self._db:is_open() then return self._db end
  local db = require "db"
  self._db = db.connect {
    url = self:database_url(),
    application_name = "runbook " .. self.runbook,
    read_only = self.settings.read_only == true,
  }
  host.journal_set("database", tostring(self._db):gsub("^db connection ", ""))
  return self._db
end

function Context:close()
  -- The migration lock goes before its session does.
  if self.state.plan then self.state.plan:unlock() end
  if self._db then self._db:close(); self._db = nil end
end

---------------------------------------------------------------------------
-- Resolving parameters: --set > environment > runbook default
---------------------------------------------------------------------------
local function resolve_params(rb, sets, env)
  local values, problems = {}, {}
  local known = {}
  for _, p in ipairs(rb.params) do known[p.name] = true end
  for k in pairs(sets) do
    if not known[k] then
      local names = {}
      for _, p in ipairs(rb.params) do names[#names + 1] = p.name end
      problems[#problems + 1] = string.format("--set %s: %s has no such parameter (parameters: %s)",
        k, rb.name, #names > 0 and table.concat(names, ", ") or "none")
    end
  end
  for _, p in ipairs(rb.params) do
    local raw, source = p.default, "default"
    if env and env[p.name] ~= nil then raw, source = env[p.name], "environment " .. env.name end
    if sets[p.name] ~= nil then raw, source = sets[p.name], "--set" end
    local value, err = parse_value(p, raw, source)
    if err then problems[#problems + 1] = err
    elseif value == nil and p.required then
      problems[#problems + 1] = string.format("parameter %s is required (--set %s=...): %s", p.name, p.name, p.help or "")
    end
    values[p.name] = value
    if p.secret and type(value) == "string" then host.add_secret(value) end
  end
  if #problems > 0 then raise_config(table.concat(problems, "\n  ")) end
  return values
end

local function redacted_params(rb, values)
  local out = {}
  for _, p in ipairs(rb.params) do
    local v = values[p.name]
    if v ~= nil then out[p.name] = p.secret and "***" or v end
  end
  return out
end

---------------------------------------------------------------------------
-- Describe and run (called by the host)
---------------------------------------------------------------------------
local function fmt_default(v)
  if v == nil then return "" end
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then  -- a list such as a checklist: its items
    local shown = {}
    for i, item in ipairs(v) do shown[i] = type(item) == "table" and tostring(item.id or item.text) or tostring(item) end
    return #shown == 0 and "none" or table.concat(shown, ", ")
  end
  return tostring(v)
end

-- The chain a runbook with a `migrations` parameter would run, for --describe: reading the
-- directory is no effect. Never fails the description.
local function describe_chain(rb, opts)
  local ok, params = pcall(function()
    local env
    if opts.env and opts.env ~= "" then env = M.load_environment(opts.environments, opts.env) end
    return resolve_params(rb, opts.sets or {}, env)
  end)
  if not ok or type(params) ~= "table" or type(params.migrations) ~= "string" then return nil end
  local layout = params.layout
  local loaded, chain = pcall(require("migrations").load, params.migrations,
    { layout = (layout or "") ~= "" and layout or nil })
  if not loaded then
    local why = type(chain) == "table" and chain.message or tostring(chain)
    return string.format("Migrations: %s: %s", params.migrations, why)
  end
  return string.format("Migrations: %s: %d migration(s), %s layout (%s)\n  order: %s", params.migrations,
    #chain:list(), chain:layout(), (layout or "") ~= "" and "chosen" or "detected", chain:ordering())
end

function M.describe(rb, opts)
  opts = opts or {}
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  add(rb.name .. " (" .. rb.source .. ")")
  if rb.description ~= "" then add("  " .. rb.description) end
  add("")
  add("Parameters (--set name=value):")
  if #rb.params == 0 then add("  (none)") end
  for _, p in ipairs(rb.params) do
    local t = p.type == "enum" and ("enum: " .. table.concat(p.choices, "|")) or p.type
    add(string.format("  %-18s %-10s default %-14s %s%s", p.name, t, fmt_default(p.default),
      p.help or "", p.required and " (required)" or ""))
  end
  local settings = sorted_keys(rb.settings)
  if #settings > 0 then
    add("")
    add("Settings (fixed by composition):")
    for _, k in ipairs(settings) do add(string.format("  %-18s %s", k, fmt_default(rb.settings[k]))) end
  end
  local chain = describe_chain(rb, opts)
  if chain then
    add("")
    add(chain)
  end
  add("")
  add("Steps:")
  for i, s in ipairs(rb.steps) do
    add(string.format("  %2d. %-20s %s%s", i, s.name, s.description or "", s.gate and " [gate: always runs]" or ""))
  end
  return table.concat(lines, "\n")
end

-- Exit codes come from the engine's one table (engine/errors.hpp: exit_code_for).
local EXIT = setmetatable({}, { __index = function(_, kind) return host.exit_code(kind) end })
M.EXIT = EXIT

local function classify(err)
  if type(err) == "table" and err.kind then return err.kind, tostring(err.message) end
  return "failed", tostring(err)
end

local function traceback_handler(err)
  if err == nil then err = "the step raised an error without a message (error(nil))" end
  local kind, message = classify(err)
  return { kind = kind, message = message, traceback = debug.traceback("", 2), typed = type(err) == "table",
    where = type(err) == "table" and err.where or nil, sqlstate = type(err) == "table" and err.sqlstate or nil }
end

-- Which steps run: --only, --from and --skip, each naming existing steps.
local function select_steps(rb, opts)
  local function check(name, flag)
    if name and name ~= "" and not rb:step_index(name) then
      local known = {}
      for _, s in ipairs(rb.steps) do known[#known + 1] = s.name end
      raise_config(string.format("%s %s: %s has no such step (steps: %s)", flag, name, rb.name, table.concat(known, ", ")))
    end
  end
  check(opts.from, "--from")
  check(opts.only, "--only")
  local skip = {}
  for _, s in ipairs(opts.skip or {}) do
    check(s, "--skip")
    if rb.steps[rb:step_index(s)].gate then
      raise_config(string.format("--skip %s: %s is a gate of %s and always runs (see --describe)", s, s, rb.name))
    end
    skip[s] = true
  end
  local started = not opts.from or opts.from == ""
  local plan = {}
  for _, s in ipairs(rb.steps) do
    if opts.from == s.name then started = true end
    local selected = started and not skip[s.name] and (not opts.only or opts.only == "" or opts.only == s.name)
    plan[#plan + 1] = { step = s, run = selected or s.gate == true }
  end
  return plan
end

-- What a protected call returned when it failed. The traceback handler itself can fail (out of
-- memory, an error inside it): then err is whatever Lua gave, and still becomes a failure.
local function failure_of(err)
  if type(err) == "table" and err.kind then return err end
  local message = tostring(err)
  if message:find("not enough memory", 1, true) then
    message = "out of memory (the Lua state could not allocate; the step's data was released)"
  end
  collectgarbage()
  return { kind = "failed", message = message }
end

function M.run(rb, opts)
  host.add_secret_url(os.getenv("DATABASE_URL"))
  local env
  if opts.env and opts.env ~= "" then env = M.load_environment(opts.environments, opts.env) end
  local params = resolve_params(rb, opts.sets or {}, env)
  local plan = select_steps(rb, opts)
  local settings = rb.settings
  -- The run's policy, decided once from the composition and the environment; the engine
  -- attaches it to every plan and refuses changes whose requirements this run did not meet.
  local policy = host.set_policy {
    confirm = type(settings.confirm) == "string" and settings.confirm or "",
    backup = settings.backup or "optional",
    acknowledge_destructive = settings.acknowledge_destructive == true,
    maintenance = settings.maintenance == true,
    checklist = (env and env.checklist) or (type(settings.checklist) == "table" and settings.checklist) or {},
    approvals = env and env.approvals or nil,
    env_confirm = env and env.confirm or "",
    env_backup = env and env.backup or "skip",
    changes = rb.policy_changes or {},
  }
  local ctx = setmetatable({
    runbook = rb.name, params = params, settings = rb.settings, env = env,
    env_name = env and env.name or nil, mode = opts.mode,
    dry_run = opts.mode ~= "live", -- a rehearsal changes nothing either: only the migration engine tells them apart
    rehearse = opts.mode == "rehearse",
    run_id = host.run_id(), state = {}, journal_dir = host.journal_dir(),
    policy = policy, plan_in = opts.plan_in ~= "" and opts.plan_in or nil,
    plan_out = opts.plan_out ~= "" and opts.plan_out or nil,
    override_rehearsal = opts.override_rehearsal ~= "" and opts.override_rehearsal or nil,
  }, Context)

  host.journal_start({
    runbook = rb.name, file = rb.source, version = host.version(), mode = opts.mode,
    environment = env and env.name or nil, parameters = redacted_params(rb, params),
    operator = host.operator(), host = host.hostname(),
  }, settings.record ~= false)

  host.journal_set("policy", policy)
  for _, what in ipairs(policy.loosened) do
    host.say("warn", "policy loosened by composition: " .. what)
    host.event("policy_loosened", { change = what })
  end

  host.say("info", string.format("runbook %s (%s) — %s%s — run %s", rb.name, rb.source,
    opts.mode, env and (" — environment " .. env.name) or "", ctx.run_id))
  if #plan > 1 then
    for i, item in ipairs(plan) do
      host.say("info", string.format("  %s %d. %-18s %s", item.run and " " or "-", i, item.step.name,
        item.step.description or ""))
    end
  end

  -- The environment's webhooks hear of the start and the end (never failing the run).
  -- A look that changes nothing (status.lua: read_only) tells nobody.
  host.notify_setup(not settings.read_only and env and env.notify or nil)
  host.notify("start", string.format("%s on %s started by %s (%s)", rb.name, env and env.name or "the default database",
    host.operator(), opts.mode), "running")

  -- Time limits: --timeout, else the runbook's own; a step's own while it runs. Passing one
  -- stops the run exactly like ^C (statements cancelled, failure handler run), exit code 3.
  local run_timeout = opts.timeout ~= nil and opts.timeout ~= "" and opts.timeout or rb.timeout
  local run_seconds = check_timeout(run_timeout, "--timeout")
  if run_seconds then
    host.set_deadline("run", run_seconds, string.format("timeout: runbook %s ran longer than its limit of %s", rb.name, run_timeout))
  end

  local failure
  for i, item in ipairs(plan) do
    if failure then
      host.journal_skip(item.step.name, failure.kind == "aborted" and ("not run: the run was aborted at " .. failure.step)
        or ("not run: step " .. failure.step .. " failed"))
    elseif not item.run then
      host.journal_skip(item.step.name, "not selected")
    else
      if host.interrupted() then
        local reason, timed_out = host.stop_reason()
        failure = { kind = "aborted", step = item.step.name,
          message = (timed_out and reason or ("interrupted by the operator (" .. reason .. ")")) .. " before step " .. item.step.name }
        host.journal_skip(item.step.name, "not run: interrupted")
      end
    end
    if item.run and not failure then
      host.say("step", string.format("[%d/%d] %s", i, #plan, item.step.name))
      host.step_started(item.step.name, item.step.description or "")
      if item.step.timeout then
        host.set_deadline("step", check_timeout(item.step.timeout, "step " .. item.step.name),
          string.format("timeout: step %s ran longer than its limit of %s", item.step.name, item.step.timeout))
      end
      local ok, err = host.stoppable(item.step.run, traceback_handler, ctx)
      host.clear_deadline("step")
      if ok then
        host.step_finished("ok", "")
      else
        err = failure_of(err)
        err.step = item.step.name
        if host.interrupted() and err.kind == "failed" then
          -- ^C, SIGTERM, SIGHUP or a time limit cancelled what the step was doing: an abort, not a failure.
          local reason, timed_out = host.stop_reason()
          err.kind = "aborted"
          err.message = err.message .. (timed_out and (" (" .. reason .. ")") or (" (interrupted by the operator: " .. reason .. ")"))
        end
        if err.sqlstate then err.message = err.message .. " [SQLSTATE " .. err.sqlstate .. "]" end
        failure = err
        host.step_finished(err.kind == "aborted" and "aborted" or "failed", err.message)
      end
    end
  end

  -- The failure path has no time limit of its own: only a further signal stops it.
  host.clear_deadline("run")
  host.clear_deadline("step")
  local _, timed_out = host.stop_reason()
  local stopped = host.interrupted()
  if failure and rb.on_failure then
    host.say("warn", "running the failure handler of " .. rb.name)
    host.step_started("on_failure", "failure handler")
    -- Inside a cleanup scope: the ^C that stopped the run does not stop its failure path.
    local _, ok, err = host.cleanup(host.stoppable, rb.on_failure, traceback_handler, ctx, failure)
    if not ok then err = failure_of(err) end
    host.step_finished(ok and "ok" or "failed", ok and "" or err.message)
    if not ok then host.say("error", "the failure handler itself failed: " .. err.message) end
  end
  if rb.finally then
    local _, ok, err = host.cleanup(host.stoppable, rb.finally, traceback_handler, ctx, failure)
    if not ok then host.say("error", "the finally handler failed: " .. failure_of(err).message) end
  end
  ctx:close()
  local where = env and env.name or "the default database"
  if failure then
    local code = EXIT[failure.kind] or 1
    local status = failure.kind == "aborted" and (stopped and (timed_out and "timed out" or "interrupted") or "aborted")
      or (failure.kind == "verify_failed" and "verification failed" or "failed")
    host.notify("failure", string.format("%s on %s %s at step %s: %s", rb.name, where, status, failure.step or "?",
      (tostring(failure.message):gsub("\n.*", ""))), status, code)
    host.finish(status, code, failure.message)
    return code, failure
  end
  if ctx._outcome then
    local code = EXIT[ctx._outcome]
    host.notify("success", string.format("%s on %s: %s", rb.name, where, ctx._outcome), ctx._outcome, code)
    host.finish(ctx._outcome, code, "")
    return code
  end
  host.notify("success", string.format("%s on %s succeeded", rb.name, where), "succeeded", 0)
  host.finish("succeeded", 0, "")
  return 0
end

return M
