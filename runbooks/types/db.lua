---@meta
-- LuaLS annotations for `require "db"` (bindings/lua_db.cpp). Not loaded at run time.
-- tests/check_stubs.py keeps the names here equal to what the binding registers.

---PostgreSQL sessions. Parameters travel separately as `$1`, `$2`, ...; rows come back as
---tables keyed by column name, SQL NULL as nil.
---@class db
local db = {}

---Options of `db.connect`.
---@class db.ConnectOptions
---@field url? string URL or `key=value` conninfo; default `""` (libpq environment: PGHOST, PGDATABASE, ..., ~/.pgpass)
---@field dbname? string connect to this database of the same server instead
---@field application_name? string shown in pg_stat_activity and lock-holder messages; default `"runbook"`
---@field lock_timeout? string session `lock_timeout`, e.g. `"5s"`
---@field statement_timeout? string session `statement_timeout`
---@field read_only? boolean `default_transaction_read_only = on`; default false

---A row: column name -> value (NULL columns are absent). Integers and floats are numbers
---(bigints beyond 2^53 are strings), booleans booleans, json/jsonb tables, anything else a string.
---@alias db.Row table<string, any>

---A query parameter: nil is sent as NULL, a boolean as true/false, a number as its decimal
---text, a table as JSON text (cast it: `$1::jsonb`).
---@alias db.Param nil|boolean|number|string|table

---Opens a PostgreSQL session. The password in the URL is registered as a secret.
---Raises `failed` when the connection fails or the URL cannot be parsed.
---Dry-run: the session is always read-only; the server refuses writes (raising `failed`).
---@param url_or_options? string|db.ConnectOptions a URL or conninfo string, `""`, nothing, or an options table
---@return db.Connection conn
function db.connect(url_or_options) end

---The same connection settings with the database replaced by `name`, as a `key=value` string.
---Raises `config` for an unparsable URL. Same in dry-run.
---@param url? string URL or conninfo (default `""`)
---@param name string the other database
---@return string conninfo
function db.with_database(url, name) end

---Splits the password off a URL, so a program can get it through PGPASSWORD instead of its
---command line. Does not register the password as a secret. Raises `config` for an unparsable URL.
---@param url? string URL or conninfo (default `""`)
---@return string conninfo the `key=value` conninfo without the password
---@return string|nil password nil when there is none
function db.split_password(url) end

---Starts a throwaway PostgreSQL cluster: initdb + pg_ctl from installed server binaries (the
---given major version where installed, else the oldest newer one; `$RUNBOOK_PG_BINDIRS`, then
---/usr/lib/postgresql/*/bin), a unix socket in a private directory under `$TMPDIR`, no TCP
---listener, fsync off. Stopped and deleted by `cluster:stop()`, by the garbage collector and at
---the end of the run, also on an error or ^C; one left by a killed runner is deleted by the next
---start. Raises `config` when no suitable server is installed, `failed` when it does not start.
---Same in dry-run and rehearsal (it is the run's own); refused while a runbook file loads.
---@param options? {version?: integer, bin_dir?: string}
---@return db.Cluster cluster
function db.ephemeral(options) end

---An ephemeral cluster from `db.ephemeral`. `tostring(cluster)` names its version and directory.
---@class db.Cluster
local Cluster = {}

---A session to a database of the cluster (default `postgres`). It changes the cluster for real
---in every mode: `migrations.apply` on it applies, also under --rehearse and --dry-run.
---@param dbname? string
---@return db.Connection conn
function Cluster:connect(dbname) end

---Copies the schema of `conn`'s database (`pg_dump --schema-only`, without owners, privileges or
---tablespaces) and the rows of the listed tables that exist there into a new database of the
---same name in this cluster. The password travels in PGPASSWORD. Raises `failed` naming the tool
---and its message (e.g. an extension that is not installed here).
---@param conn db.Connection the target
---@param options? {data?: string[]} schema-qualified tables whose rows are copied (the ledgers)
---@return {database: string, data_tables: string[], ms: number}
function Cluster:load_schema_of(conn, options) end

---Restores a custom-format archive into a new database of this cluster named like the census's
---(`pg_restore --no-owner --no-privileges --exit-on-error`, also without tablespaces,
---publications, subscriptions and security labels; the census's roles created NOLOGIN first),
---then counts every user table there and compares with the census. Raises `failed` with
---pg_restore's first error lines when the archive does not restore; `aborted` on ^C.
---A table either side lacks is a mismatch (its `source` or `restored` is nil).
---@param archive string path of a `pg_dump --format=custom` archive
---@param census {database: string, tables: {table: string, rows: number}[], roles?: string[]} from `conn:census()`
---@return {database: string, tables: {table: string, source?: number, restored?: number}[], mismatches: {table: string, source?: number, restored?: number}[], rows: number, restore_ms: number, count_ms: number}
function Cluster:restore(archive, census) end

---The server it runs and where.
---@return {version: string, major: integer, bin_dir: string, dir: string}
function Cluster:info() end

---Stops the server and deletes its directory; safe to call twice.
function Cluster:stop() end

---A session opened by `db.connect` (or `ctx:db()`). `tostring(conn)` gives
---`db connection HOST:PORT/DB as USER`, never the password. Closed by the garbage collector too.
---@class db.Connection
local Connection = {}

---Runs one statement; every statement outside `transaction` commits on its own.
---SQL errors raise `failed`. Dry-run: the session is read-only, so writes raise `failed`.
---@param sql string one statement with `$1`, `$2`, ... placeholders
---@param ... db.Param the parameters
---@return db.Row[] rows
function Connection:query(sql, ...) end

---The first row of the result, or nothing (nil when assigned).
---@param sql string one statement
---@param ... db.Param the parameters
---@return db.Row|nil row
function Connection:query_row(sql, ...) end

---The first column of the first row, or nothing (nil when assigned).
---@param sql string one statement
---@param ... db.Param the parameters
---@return any|nil value
function Connection:value(sql, ...) end

---Runs one statement and returns the number of rows affected.
---Dry-run: the session is read-only, so writes raise `failed`.
---@param sql string one statement
---@param ... db.Param the parameters
---@return number affected
function Connection:exec(sql, ...) end

---Runs several `;`-separated statements (simple query protocol, no parameters).
---Dry-run: the session is read-only, so writes raise `failed`.
---@param sql string
function Connection:script(sql) end

---Sends BEGIN, calls `fn(conn)`, and COMMIT when it returns; if `fn` raises, sends ROLLBACK
---and re-raises the same error.
---@generic T
---@param fn fun(conn: db.Connection): T
---@return T result what `fn` returned (all of its values)
function Connection:transaction(fn) end

---Exact row counts (`SELECT count(*)`) of every user table — ordinary tables and partitions,
---not partitioned parents, extension members, temporary or system tables — and the role names,
---in the session's current transaction (row security off: a table whose rows it would hide
---raises instead of counting fewer). Inside a REPEATABLE READ transaction whose snapshot a
---`pg_dump --snapshot` used, it counts exactly what the archive holds.
---@return {database: string, tables: {table: string, rows: number}[], roles: string[]} census
function Connection:census() end

---`pg_try_advisory_lock(key)`: never waits. Use keys below 2^53.
---@param key number
---@return boolean acquired
function Connection:try_advisory_lock(key) end

---`pg_advisory_unlock(key)`.
---@param key number
function Connection:advisory_unlock(key) end

---`set_config(name, value, false)` for the session.
---@param name string a setting such as `"lock_timeout"`
---@param value string
function Connection:set(name, value) end

---The server's version number, e.g. `150018`.
---@return number version
function Connection:server_version() end

---The name of the connected database.
---@return string name
function Connection:database() end

---True if the session was opened read-only (always in dry-run).
---@return boolean
function Connection:read_only() end

---False once closed or when the session was lost.
---@return boolean
function Connection:is_open() end

---Closes the session; safe to call twice.
function Connection:close() end

return db
