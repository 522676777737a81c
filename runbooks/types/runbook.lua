---@meta
-- LuaLS annotations for `require "runbook"` (bindings/lua/runbook.lua). Not loaded at run time.
-- tests/check_stubs.py keeps the names here equal to the functions, methods and fields there.

---The runbook core: define, compose, steps and gates, parameters, typed errors, secrets.
---@class runbook
local runbook = {}

---@alias runbook.ParamType "string"|"number"|"integer"|"boolean"|"duration"|"enum"

---A parameter of a runbook, set with `--set name=value` and read as `ctx.params.name`.
---@class runbook.ParamSpec
---@field name string
---@field type? runbook.ParamType default `"string"`
---@field default? any checked against the type when the runbook is defined
---@field help? string shown by `--describe`
---@field required? boolean without a value the run stops with exit code 2
---@field secret? boolean redacted from output, recorded as `***`
---@field choices? string[] required for `enum`
---@field min? number lower bound for `number` and `integer`

---A step, made by `runbook.step` or `runbook.gate`.
---@class runbook.Step
---@field name string unique within the runbook
---@field description string one line
---@field run fun(ctx: runbook.Context) fails by raising an error; its return value is ignored
---@field gate? boolean always runs: `--from`, `--only` and `--skip` never leave it out
---@field timeout? string a time limit ("30s", "10min", "2h"): passing it stops the step like ^C (exit code 3)

---Options of `runbook.step` and `runbook.gate`.
---@class runbook.StepOptions
---@field timeout? string a time limit ("30s", "10min", "2h"): passing it stops the step like ^C (exit code 3)

---What a failed step raised, handed to `on_failure` and `finally`.
---@class runbook.Failure
---@field kind "failed"|"config"|"aborted"|"verify_failed"
---@field message string
---@field step string the step that failed
---@field traceback? string
---@field typed? boolean false for a plain Lua error (a bug)

---The table given to `runbook.define`. Any other key is a `config` error.
---@class runbook.Spec
---@field name? string default: the file name without `.lua`
---@field description? string one line, shown by `--list` and `--describe`
---@field params? runbook.ParamSpec[]
---@field settings? table<string, any> fixed policy values, read as `ctx.settings.X`
---@field steps? runbook.Step[] run in order; names must be unique
---@field on_failure? fun(ctx: runbook.Context, failure: runbook.Failure) runs once after a failed step
---@field finally? fun(ctx: runbook.Context, failure: runbook.Failure|nil) runs at the end of every run
---@field timeout? string the whole run's time limit ("2h"); `--timeout` overrides it

---An environment of the environments file (`--env`), validated by `runbook.load_environment`.
---@class runbook.Environment
---@field name string
---@field database_url string the value of the `database_env` variable (registered as a secret)
---@field database_env string name of the environment variable holding the database URL
---@field description? string
---@field disposable? boolean
---@field confirm? string typed confirmation token
---@field lock_timeout? string
---@field statement_timeout? string
---@field migrations? string
---@field ledger? string
---@field backup? "required"|"optional"|"skip"
---@field backup_dir? string
---@field backup_verify? "read"|"restore" read the archive back whole, or also restore it into an ephemeral cluster and compare row counts
---@field health_checks? table
---@field parity_url? string
---@field expected_tables? string[]
---@field expected_indexes? string[]
---@field smoke_sql? (string|runbook.SmokeQuery)[] each query's first value must not be false or NULL, or must meet its `expect`
---@field compare? runbook.CompareQuery[] values read before apply changes anything and compared after
---@field hooks? table<"pause_workers"|"resume_workers"|"maintenance_on"|"maintenance_off"|"upload_backup", string[]> argv lists
---@field max_connections? number
---@field long_transaction? string
---@field secrets_env? string[] names of environment variables whose values are secrets

---A smoke query of an environment (`smoke_sql`).
---@class runbook.SmokeQuery
---@field name? string shown in the results (default: the SQL)
---@field sql string one statement; its first value is checked
---@field expect? string|number `"= 0"`, `"!= 0"`, `">= 1"`, `"> 1"`, `"<= 5"`, `"< 5"` (a number after the operator), or a bare value the result's text must equal (`"ok"`); a number means `"= n"`

---A named query compared before and after apply (`compare`).
---@class runbook.CompareQuery
---@field name string shown in the results as `compare NAME`
---@field sql string one statement returning one value, usually a count
---@field must "not_shrink"|"equal"|"grow" what the value after must be against the value before

---A parsed `expect` (`runbook.parse_expect`).
---@class runbook.Expectation
---@field op "="|"!="|">="|">"|"<="|"<"|"text"
---@field number? number the number after the operator
---@field value? string the text a bare value must equal (op `"text"`)
---@field text string the expectation as the results show it

---What the host passes to `runbook.run`.
---@class runbook.RunOptions
---@field mode "live"|"dry-run"|"rehearse"
---@field env? string
---@field environments? string the environments file
---@field from? string
---@field only? string
---@field skip? string[]
---@field sets? table<string, string>

---@class runbook.ConfirmOptions
---@field question? string default `"Continue?"`
---@field token? string if set, only this exact typed text continues (answered by `--confirm`)

---Exit code of each error kind: `{ failed = 1, config = 2, aborted = 3, verify_failed = 4 }`.
---@type table<string, integer>
runbook.EXIT = { failed = 1, config = 2, aborted = 3, verify_failed = 4, pending = 5 }

---The keys an environment may have, with their Lua types.
---@type table<string, string>
runbook.ENV_KEYS = {}

---Parses the `expect` of a smoke query: an operator and a number, a number (`"= n"`), or a bare
---value compared as text. Nil and the reason when it is neither (`">> 1"`, `"= ok"`, `""`).
---@param expect string|number
---@return runbook.Expectation|nil expectation
---@return string|nil err what is wrong with it
function runbook.parse_expect(expect) end

---Fails the current step (kind `failed`, exit code 1). The message gets the caller's `file:line`.
---@param message string
function runbook.fail(message) end

---Stops the run on purpose (kind `aborted`, exit code 3).
---@param message string
function runbook.abort(message) end

---A verification did not pass (kind `verify_failed`, exit code 4).
---@param message string
function runbook.verify_failed(message) end

---Bad configuration or parameters (kind `config`, exit code 2).
---@param message string
function runbook.config_error(message) end

---Registers a secret: masked in everything printed, logged or recorded from now on (values
---shorter than 4 characters are ignored; non-strings too).
---@param value string
function runbook.add_secret(value) end

---Seconds in a duration string: `"5s"` -> 5, `"2min"` -> 120, `"500ms"` -> 0.5; `""`, `"0"` or
---nil -> 0. Anything else raises a plain error at the caller's line.
---@param duration string|nil
---@return number seconds
function runbook.seconds(duration) end

---Loads a runbook file. Used by the host; not for runbooks.
---@param file string
---@return runbook.Runbook rb
function runbook.load_file(file) end

---A step: a name, a one-line description and a function(ctx).
---@param name string
---@param description string|fun(ctx: runbook.Context) may be left out
---@param run? fun(ctx: runbook.Context)
---@param options? runbook.StepOptions `{ timeout = "10min" }`
---@return runbook.Step step
---@overload fun(name: string, run: fun(ctx: runbook.Context)): runbook.Step
function runbook.step(name, description, run, options) end

---A gate: a step that `--only`, `--from` and `--skip` never leave out (connections, parity,
---confirmations, required backups). `--skip` naming it is a `config` error.
---@param name string
---@param description string|fun(ctx: runbook.Context) may be left out
---@param run? fun(ctx: runbook.Context)
---@param options? runbook.StepOptions `{ timeout = "10min" }`
---@return runbook.Step step
---@overload fun(name: string, run: fun(ctx: runbook.Context)): runbook.Step
function runbook.gate(name, description, run, options) end

---Defines a runbook; a runbook file ends with `return runbook.define { ... }`. Unknown keys,
---steps without a name or run function and duplicate names are `config` errors.
---@param spec runbook.Spec
---@return runbook.Runbook rb
function runbook.define(spec) end

---True for a value made by `define` or a composition method.
---@param value any
---@return boolean
function runbook.is_runbook(value) end

---Loads and validates the environments file and returns the named environment (what `--env`
---uses). Raises `config` errors listing every problem.
---@param file string
---@param name string
---@return runbook.Environment env
function runbook.load_environment(file, name) end

---The text `--describe` prints.
---@param rb runbook.Runbook
---@return string text
function runbook.describe(rb) end

---Runs a runbook. Used by the host; not for runbooks.
---@param rb runbook.Runbook
---@param opts runbook.RunOptions
---@return integer code the exit code
---@return runbook.Failure|nil failure
function runbook.run(rb, opts) end

---A defined runbook. Every composition method returns a new runbook and leaves this one
---unchanged; naming a step that does not exist is a `config` error listing the steps.
---@class runbook.Runbook
---@field name string
---@field description string
---@field source string the file that defined (or composed) it
---@field params runbook.ParamSpec[]
---@field settings table<string, any>
---@field steps runbook.Step[]
---@field on_failure? fun(ctx: runbook.Context, failure: runbook.Failure)
---@field finally? fun(ctx: runbook.Context, failure: runbook.Failure|nil)
---@field timeout? string the whole run's time limit
local Runbook = {}

---The metatable of runbooks.
runbook.Runbook = Runbook

---A copy.
---@return runbook.Runbook copy
function Runbook:clone() end

---The parameter spec named `name`, or nil.
---@param name string
---@return runbook.ParamSpec|nil spec
function Runbook:param(name) end

---The position of the step named `name`, or nil.
---@param name string
---@return integer|nil index
function Runbook:step_index(name) end

---A copy with parameter defaults (validated against their types), settings, and `name`,
---`description`, `on_failure`, `finally`, `timeout` changed. Any other key is a `config` error.
---@param overrides table<string, any>
---@return runbook.Runbook copy
function Runbook:with(overrides) end

---A copy with `step` just before the step named `name`.
---@param name string
---@param step runbook.Step
---@return runbook.Runbook copy
function Runbook:insert_before(name, step) end

---A copy with `step` just after the step named `name`.
---@param name string
---@param step runbook.Step
---@return runbook.Runbook copy
function Runbook:insert_after(name, step) end

---A copy with `step` at the end.
---@param step runbook.Step
---@return runbook.Runbook copy
function Runbook:append(step) end

---A copy with the step named `name` replaced: by a step table, or by a bare function keeping the
---old name and description. Replacing a gate keeps it a gate.
---@param name string
---@param replacement runbook.Step|fun(ctx: runbook.Context)
---@return runbook.Runbook copy
function Runbook:replace(name, replacement) end

---A copy without the step named `name`.
---@param name string
---@return runbook.Runbook copy
function Runbook:remove(name) end

---A copy with a new parameter (a `config` error if the name exists).
---@param spec runbook.ParamSpec
---@return runbook.Runbook copy
function Runbook:add_param(spec) end

---The run context every step, `on_failure` and `finally` receives.
---@class runbook.Context
---@field runbook string the runbook's name
---@field params table<string, any> parameter values after `--set`, environment and defaults
---@field settings table<string, any> the runbook's settings
---@field env runbook.Environment|nil the environment chosen with `--env`
---@field env_name string|nil `ctx.env.name`
---@field mode "live"|"dry-run"|"rehearse"
---@field dry_run boolean true unless the run is live (dry-run and rehearse change nothing outside a rolled-back rehearsal)
---@field rehearse boolean `ctx.mode == "rehearse"`: pending migrations run in one transaction that is rolled back
---@field run_id string also the run record's file name
---@field state table empty at start; steps share data through it
---@field journal_dir string where run records are written
---@field policy table the run's policy {confirm, backup, acknowledge_destructive, maintenance, loosened}, decided by the engine
---@field plan_in string|nil `--plan FILE`: the saved plan this run must match
---@field plan_out string|nil `--plan-out FILE`: where the plan is written
---@field override_rehearsal string|nil `--override-rehearsal REASON`: apply although the environment's require_rehearsal or min_soak is not met
local Context = {}

---Sets a top-level field of the run record.
---@param key string
---@param value any
function Context:note(key, value) end

---Prints a line to stderr (redacted); with arguments, `string.format(fmt, ...)`.
---@param fmt any
---@param ... any
function Context:log(fmt, ...) end

---Prints `warning: ...` to stderr (redacted).
---@param fmt any
---@param ... any
function Context:warn(fmt, ...) end

---Prints a line shown only with `-v`.
---@param fmt any
---@param ... any
function Context:detail(fmt, ...) end

---Adds an event `{ kind =, at =, ...detail }` to the current step of the run record. Kinds
---`"check"`, `"backup"` and `"artifact"` are also listed at the top of the record.
---@param kind string
---@param detail? table
function Context:record(kind, detail) end

---`ctx:record("artifact", { name = name, value = value })`.
---@param name string
---@param value any
function Context:artifact(name, value) end

---Fails the current step (kind `failed`, exit code 1); no `file:line` in front.
---@param message string
function Context:fail(message) end

---Stops the run on purpose (kind `aborted`, exit code 3).
---@param message string
function Context:abort(message) end

---A verification did not pass (kind `verify_failed`, exit code 4).
---@param message string
function Context:verify_failed(message) end

---Bad configuration or parameters (kind `config`, exit code 2).
---@param message string
function Context:config_error(message) end

---Not an error: once its steps are done, the run ends with this outcome's status and exit code
---instead of `succeeded`/0 — `"pending"` (exit code 5: status.lua found migrations to apply).
---Raises `config` for any other outcome.
---@param outcome "pending"
function Context:conclude(outcome) end

---Asks the operator; returns on yes, raises `aborted` otherwise. A token question is answered by
---`--confirm TOKEN`, a yes/no question by `--yes`. Recorded (`confirmation`).
---Dry-run: prints `would ask: ...` and continues.
---@param opts string|runbook.ConfirmOptions the question, or a table
function Context:confirm(opts) end

---Waits `seconds` (a number or a duration such as "1min"); ^C, SIGTERM or a time limit end the
---wait at once (`aborted`, exit 3).
---@param seconds number|string
function Context:sleep(seconds) end

---Prints `title`, then has a person tick each item: `--check ID`, a `--checklist FILE`, or at a
---terminal; `--yes` and `--confirm` never tick one. Not complete: aborts (exit 3) naming the
---missing items (dry-run: a warning). Recorded (`checklist`: who ticked what, and how).
---@param title string
---@param items (string|{id: string, text: string})[]
---@return {complete: boolean, items: {id: string, text: string, ticked: boolean, by: string, how: string}[]}
function Context:checklist(title, items) end

---The database URL of this run: `ctx.env.database_url` with `--env`, else `$DATABASE_URL`,
---else `""` (libpq's PGHOST, PGDATABASE, ... and ~/.pgpass).
---@return string url
function Context:database_url() end

---The database of this run, opened once and returned on every call (read-only in dry-run).
---@return db.Connection conn
function Context:db() end

---Closes the connection of `ctx:db()` (the host does it after `finally`).
function Context:close() end

return runbook
