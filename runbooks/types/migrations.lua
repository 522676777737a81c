---@meta
-- LuaLS annotations for `require "migrations"` (bindings/lua_migrations.cpp). Not loaded at run
-- time. tests/check_stubs.py keeps the names here equal to what the binding registers.

---Migration chains, status and parity, apply, rollback, resolve, baseline. Progress goes to the
---operator and every migration to the run record.
---@class migrations
local migrations = {}

---Every function taking options accepts `ledger`.
---@class migrations.LedgerOptions
---@field ledger? string `"schema.table"` or `"table"` (schema public); default `public.schema_migrations`

---What a plan is made from.
---@class migrations.PlanOptions: migrations.LedgerOptions
---@field kind? "apply"|"rollback" default `"apply"`
---@field target? string apply: stop after this migration (name or version); default: all pending
---@field allow_drift? boolean apply: also plan gaps and apply although parity fails; default false
---@field count? integer rollback: how many of the newest applied migrations; default 1
---@field to? string rollback: or everything applied after this version

---@class migrations.ApplyOptions
---@field lock_timeout? string `lock_timeout` for each migration, e.g. `"5s"`
---@field statement_timeout? string `statement_timeout` for each migration
---@field lock_wait? number seconds to wait for another runner's advisory lock; default 60
---@field lock_retries? integer retries of a migration that hit lock_timeout; default 3
---@field retry_backoff? number seconds before the first retry, doubling each retry; default 1
---@field record_effects? boolean give each outcome the table locks it took and the tables it rewrote (a shadow rehearsal)

---@class migrations.RollbackOptions
---@field lock_timeout? string `lock_timeout` for each down script
---@field statement_timeout? string `statement_timeout` for each down script
---@field lock_wait? number seconds to wait for the advisory lock; default 60

---A migration of a chain.
---@class migrations.Migration
---@field name string the ledger name, e.g. `0001_init.up.sql`
---@field version string the version prefix, e.g. `0001`
---@field up_path string
---@field down_path string `""` when there is none
---@field sha256 string hex SHA-256 of the up file
---@field has_down boolean a non-empty down script exists

---`chain:get` adds the SQL text.
---@class migrations.MigrationWithSql: migrations.Migration
---@field up_sql string
---@field down_sql string

---A ledger row (extra_in_db, dirty).
---@class migrations.LedgerRow
---@field filename string
---@field sha256 string
---@field status string `"applied"` or `"dirty"`
---@field applied_at string
---@field run_id string
---@field error string
---@field statements_done number
---@field failed_statement number

---@class migrations.HashMismatch
---@field filename string
---@field ledger_sha256 string
---@field file_sha256 string

---@class migrations.Status
---@field applied string[] names in the chain and in the ledger (not dirty)
---@field pending string[] not applied and newer than the newest applied one
---@field missing_in_db string[] not applied but older than an applied one (a gap)
---@field extra_in_db migrations.LedgerRow[] ledger rows whose file is not in the chain
---@field dirty migrations.LedgerRow[] ledger rows with status dirty
---@field hash_mismatches migrations.HashMismatch[] edited after being applied
---@field line_ending_only migrations.HashMismatch[] only line endings or a BOM differ; not drift
---@field parity "PASS"|"FAIL"
---@field up_to_date boolean parity PASS and nothing pending
---@field drift string[] one message per problem

---@class migrations.Outcome
---@field name string
---@field version string
---@field sha256 string
---@field status string `"applied"`, `"would apply"`, `"dirty"`, `"rolled back"`, `"would roll back"` or `"rehearsed"` (rolled back, or applied on an ephemeral cluster)
---@field ms number
---@field transactional boolean
---@field locks? {relation: string, mode: string, created: boolean, sampled: boolean}[] with record_effects: one per table, its strongest lock (`"ACCESS EXCLUSIVE"`), strongest first; `sampled`: seen by sampling a statement outside a transaction
---@field rewritten? string[] with record_effects: tables whose storage the migration rewrote

---Reads every migration in `dir` once and hashes it; the layout is detected from the files.
---Raises `config` naming the file (missing directory, mixed layouts, duplicate versions, ...).
---Same in dry-run.
---@param dir string
---@param opts? { layout?: "flat"|"golang-migrate"|"sqlx"|"diesel"|"prisma"|"dbmate"|"flyway"|"goose"|"node-pg-migrate"|"versioned-dirs" } the layout's rules instead of the detected ones
---@return migrations.Chain chain
function migrations.load(dir, opts) end

---@class migrations.Layout
---@field name string what `--set layout=` takes
---@field ordering string its ordering rule, in words
---@field pattern string an example of its file names

---@class migrations.ToolLedger
---@field name string what `--set ledger=` takes: `"sqlx"`
---@field table string its default table, `"public._sqlx_migrations"`
---@field layout string the layout its tool follows

---@class migrations.AdoptReport
---@field tool string
---@field tool_table string
---@field ledger string runbook's ledger written
---@field matched string[] recorded by the tool, file unchanged: recorded by adopt
---@field already string[] also in runbook's ledger already
---@field pending string[] not applied by the tool
---@field recorded string[] written (live) or that would be
---@field differs string[] edited since the tool applied them (messages)
---@field failed string[] the tool's failed states (messages)
---@field unknown string[] tool rows without a file (messages)
---@field blockers string[] differs + failed + unknown: nothing is written while any

---Baselines runbook's ledger from another tool's (docs/adoption.md). Live mode writes, in one
---transaction under the migration lock, unless `dry` or blockers; dry-run only reads.
---@param conn db.Connection
---@param chain migrations.Chain
---@param opts { tool: string, ledger?: string, dry?: boolean }
---@return migrations.AdoptReport report
function migrations.adopt(conn, chain, opts) end

---Known tools' ledger tables in the database, by shape (one catalog query, plus a count each).
---@param conn db.Connection
---@return { tool: string, table: string, rows: integer }[] found
function migrations.foreign_ledgers(conn) end

---The tools whose ledgers runbook reads and keeps in step (docs/adoption.md).
---@return migrations.ToolLedger[] tools
function migrations.tool_ledgers() end

---What a `ledger` option names: runbook's own table, and in compatibility mode the tool and its
---table (`"sqlx public._sqlx_migrations"`), else nil. Raises `config` for a malformed value.
---@param ledger? string `""`/nil (the default), `"schema.table"`, a tool name, or `"tool:schema.table"`
---@return string own_table
---@return string|nil tool_and_table
function migrations.ledger_table(ledger) end

---Every layout, in detection order (docs/layouts.md).
---@return migrations.Layout[] layouts
function migrations.layouts() end

---Compares the chain with the ledger (one query). Same in dry-run (read-only).
---@param conn db.Connection
---@param chain migrations.Chain
---@param opts? migrations.LedgerOptions
---@return migrations.Status status
function migrations.status(conn, chain, opts) end

---Applies pending migrations in chain order under the ledger's advisory lock; refuses on drift
---(`verify_failed`) unless `allow_drift`. Each migration is printed and recorded (`migration`).
---Errors: `aborted` (lock, interrupt), `verify_failed`, `config`, `failed` (SQL).
---Dry-run: no lock, no ledger created; prints and records (`sql`) what would run; outcomes have
---status `"would apply"`. On a connection of an ephemeral cluster (`db.ephemeral`) the apply is
---real in every mode, needs no consent, and outcomes have status `"rehearsed"`.
---@param conn db.Connection
---@param chain migrations.Chain
---@param plan migrations.Plan an apply plan (migrations.plan)
---@param opts? migrations.ApplyOptions
---@return migrations.Outcome[] outcomes
---@return migrations.Status status_before the status read under the lock
function migrations.apply(conn, chain, plan, opts) end

---Runs the down scripts of a rollback plan newest first under the advisory lock, deleting their
---ledger rows; stops between two down scripts when the run is interrupted. Refuses (`config`)
---when a planned migration has no down script, (`aborted`) when the ledger moved since the plan
---or the plan's requirements are unmet. Dry-run: no lock; prints each down script.
---@param conn db.Connection
---@param chain migrations.Chain
---@param plan migrations.Plan a `kind = "rollback"` plan
---@param opts? migrations.RollbackOptions
---@return migrations.Outcome[] outcomes
function migrations.rollback(conn, chain, plan, opts) end

---The plan of a run, made by the engine from the chain and the ledger (one read); each file is
---parsed once, here. Carries the run's policy (never an argument). Raises `config` for an unknown
---target or a rollback request that does not match the ledger.
---@param conn db.Connection
---@param chain migrations.Chain
---@param opts? migrations.PlanOptions
---@return migrations.Plan
function migrations.plan(conn, chain, opts) end

---Verifies a pg_dump custom-format archive (pg_restore --list) for a backup not tied to a plan.
---@param path string
---@return {path: string, sha256: string, size: number, toc_entries: integer}
function migrations.verify_backup(path) end

---A read-only plan handle, plus what this run did to meet its policy.
---@class migrations.Plan
local Plan = {}
---The plan kind.
---@return "apply"|"rollback"
function Plan:kind() end
---The plan id.
---@return string id sha256 of what would change and under which policy
function Plan:id() end
---True when the plan changes nothing.
---@return boolean
function Plan:empty() end
---How many migrations the plan runs.
---@return integer
function Plan:count() end
---Migration names in run order.
---@return string[] names in the order they will run
function Plan:names() end
---Drift found when the plan was made.
---@return string[] drift one line per problem
function Plan:drift() end
---Rollback: planned migrations without a down script.
---@return string[] names rollback: planned migrations without a down script
function Plan:missing_down() end
---The database the plan was made for.
---@return string database "name on host:port (system N)"
function Plan:database() end
---The planned migrations, each parsed once.
---@return table[] migrations {name, version, path, sha256, sql, transaction, gap, statements, findings, extensions}
function Plan:migrations() end
---The run's policy attached to the plan.
---@return table policy {confirm, backup, acknowledge_destructive, maintenance, loosened}
function Plan:policy() end
---The status the plan was computed from (no ledger read).
---@return migrations.Status status the status the plan was computed from
function Plan:status() end
---Requirements of the policy this run has not met yet.
---@return string[] unmet requirements not met yet in this run
function Plan:unmet() end
---Raises `aborted` listing the unmet requirements (live runs only).
---@param what? string
function Plan:require_met(what) end
---The policy's checklist (a person ticks each item: --check, --checklist, terminal; never --yes),
---acknowledgements of destructive findings (--ack or terminal; never --yes), then the policy's token or question.
---@param question string
function Plan:confirm(question) end
---The environment's approvals of this plan's id (approve.lua): too few raises `aborted` naming
---who approved and how many are missing (dry-run: a warning); met lets the engine run the plan.
---@param conn db.Connection the target database, where the approvals are recorded
---@return {required: integer, met: boolean, counted: string[], ignored: string[], missing: integer}
function Plan:check_approvals(conn) end
---Verifies a backup written after the plan was made and binds it to the plan. Dry-run: nil.
---@param path string
---@param taken_at? string
---@return table|nil proof {path, sha256, size, toc_entries, taken_at, plan}
function Plan:attach_backup(path, taken_at) end
---The pause step of this run ran.
function Plan:entered_maintenance() end
---Takes the migration lock for the run; false when the ledger moved since the plan.
---@param conn db.Connection
---@param opts? {wait: number}
---@return boolean unchanged
function Plan:lock(conn, opts) end
---Releases the migration lock taken by Plan:lock.
function Plan:unlock() end
---True while this plan holds the migration lock.
---@return boolean
function Plan:locked() end
---Writes the plan as JSON (--plan-out).
---@param path string
function Plan:save(path) end
---What differs from a saved plan, one line each (empty: the same plan).
---@param path string
---@return string[]
function Plan:differences(path) end
---The plan as a Lua table.
---@return table plan the document --plan-out writes
function Plan:json() end

---Records a manual repair: `"applied"` writes the row with the current file's hash (clears a
---dirty row), `"rolled-back"` deletes it. Takes the advisory lock; prints and records (`resolve`).
---Raises `config` for an unknown name or another `as`.
---Dry-run: changes nothing; returns and prints `would mark NAME as AS`.
---@param conn db.Connection
---@param chain migrations.Chain
---@param name string a name or version in the chain, or a ledger row's exact filename
---@param as "applied"|"rolled-back"
---@param opts? migrations.LedgerOptions
---@return string message what was done
function migrations.resolve(conn, chain, name, as, opts) end

---Records every migration up to and including `version` that the ledger lacks as applied,
---without running it. Takes the advisory lock; prints and records (`baseline`).
---Raises `config` for an unknown version. Dry-run: records nothing, returns the names.
---@param conn db.Connection
---@param chain migrations.Chain
---@param version string
---@param opts? migrations.LedgerOptions
---@return string[] names recorded (or that would be)
function migrations.baseline(conn, chain, version, opts) end

---Who holds the ledger's advisory lock: `APPLICATION (user USER) on HOST, pid N, connected since
---TIME`, or nil. Same in dry-run.
---@param conn db.Connection
---@param opts? migrations.LedgerOptions
---@return string|nil holder
function migrations.lock_holder(conn, opts) end

---Records one approval of a saved plan's id in public.runbook_approvals (created on first use,
---append-only). Dry-run: says what it would record.
---@param conn db.Connection
---@param plan_id string the plan's id (64 hex digits), from the file --plan-out wrote
---@param opts {approver: string, comment?: string}
function migrations.approve(conn, plan_id, opts) end

---The approvals of a plan's id, oldest first (none when the table does not exist).
---@param conn db.Connection
---@param plan_id string
---@return {approver: string, comment: string, approved_at: string, host: string, run_id: string}[]
function migrations.approvals_of(conn, plan_id) end

---A loaded migration directory (`migrations.load`).
---@class migrations.Chain
local Chain = {}

---The migrations in apply order.
---@return migrations.Migration[] list
function Chain:list() end

---A migration by name or version (numerically: `"11"` finds `0011_...`), with its SQL, or nil.
---@param name_or_version string
---@return migrations.MigrationWithSql|nil migration
function Chain:get(name_or_version) end

---The directory given to `migrations.load`.
---@return string dir
function Chain:directory() end

---The layout in use (detected or chosen); docs/layouts.md.
---@return "flat"|"golang-migrate"|"sqlx"|"diesel"|"prisma"|"dbmate" layout
function Chain:layout() end

---The layout's ordering rule, in words.
---@return string ordering
function Chain:ordering() end

---@class migrations.NewMigration
---@field name string its ledger name
---@field files { path: string, content: string }[] the files to write, up first

---What the chain's layout writes for a new migration after its newest (named and laid out as
---the tool would: `V1_2__x.sql` + `U1_2__x.sql`, `<ts>_x/up.sql` + `down.sql`, one annotated
---file for dbmate, goose and node-pg-migrate). Writes nothing. Raises `config` for a title
---with characters other than letters, digits, `_` and `-`, or when a file already exists.
---@param spec { title: string, up: string, down?: string } `down` empty or nil: no down script
---@return migrations.NewMigration new
function Chain:new_migration(spec) end

return migrations
