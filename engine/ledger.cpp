#include "engine/ledger.hpp"

#include <algorithm>

#include "engine/errors.hpp"
#include "engine/hash.hpp"
#include "engine/run_stats.hpp"
#include "engine/chain.hpp"
#include "engine/tool_ledger.hpp"

namespace rb::migrations {

namespace {
std::string joined(const std::vector<std::string>& statements) {
  std::string out;
  for (const auto& s : statements) out += (out.empty() ? "" : ";\n") + s;
  return out;
}

const char* const kCompatOwnLedger = "runbook_ledger";  // public.runbook_ledger beside a tool's

std::string tool_names() {
  std::string out;
  for (const auto* t : tool_ledgers()) out += (out.empty() ? "" : ", ") + std::string(t->name);
  return out;
}

// "table" or "schema.table" into `n`, refusing empty parts.
void parse_table(const std::string& text, std::string& schema, std::string& table) {
  const auto dot = text.find('.');
  schema = dot == std::string::npos ? "public" : text.substr(0, dot);
  table = dot == std::string::npos ? text : text.substr(dot + 1);
  if (schema.empty() || table.empty() || table.find('.') != std::string::npos)
    throw ConfigError("ledger '" + text + "': expected schema.table, table, or a tool (" + tool_names() + ")");
}
}  // namespace

LedgerName LedgerName::parse(const std::string& text) {
  LedgerName n;
  if (text.empty()) return n;
  n.chosen = true;
  const auto colon = text.find(':');
  const std::string head = text.substr(0, colon);
  if (const auto* tool = find_tool_ledger(head)) {
    n.tool = tool->name;
    n.tool_table = tool->table;
    if (colon != std::string::npos) {
      std::string schema, table;
      parse_table(text.substr(colon + 1), schema, table);
      n.tool_table = schema + "." + table;
    }
    n.table = kCompatOwnLedger;
    return n;
  }
  if (colon != std::string::npos)
    throw ConfigError("ledger '" + text + "': '" + head + "' is not a tool whose ledger runbook keeps (" + tool_names() + ")");
  parse_table(text, n.schema, n.table);
  return n;
}

std::string LedgerName::spec() const {
  if (tool.empty()) return qualified();
  const auto* t = find_tool_ledger(tool);
  return t && tool_table == t->table ? tool : tool + ":" + tool_table;
}

Ledger::Ledger(db::Connection& conn, LedgerName name, const Chain* chain)
    : conn_(conn), name_(std::move(name)), chain_(chain) {
  quoted_ = conn_.quote_name(name_.schema) + "." + conn_.quote_name(name_.table);
  if (!name_.tool.empty()) {
    tool_ = find_tool_ledger(name_.tool);
    if (!tool_) throw ConfigError("unknown tool ledger '" + name_.tool + "' (one of: " + tool_names() + ")");
  }
}

bool Ledger::exists() {
  auto r = conn_.query("SELECT to_regclass($1) IS NOT NULL", {quoted_});
  if (!r.rows.at(0).at(0).boolean) {
    if (!name_.chosen) refuse_foreign_ledgers();
    return false;
  }
  refuse_foreign_table();
  return true;
}

void Ledger::refuse_foreign_ledgers() {
  // First contact with a database another tool migrates: reading it as empty would re-run
  // every migration. The operator chooses: keep both ledgers, or adopt.
  const auto found = find_foreign_ledgers(conn_);
  if (found.empty()) return;
  const auto& f = found.front();
  throw ConfigError("this database is migrated by " + std::string(f.tool->name) + ": its ledger " + f.table + " has " +
                    std::to_string(f.rows) + " row(s), and runbook's own ledger " + name_.qualified() +
                    " does not exist yet. Choose one:\n"
                    "  - keep " + f.tool->name + "'s ledger in step with runbook's (the tool and the application "
                    "keep working): --set ledger=" + f.tool->name + "\n"
                    "  - adopt: baseline runbook's ledger from it and use runbook alone: runbook adopt.lua --set tool=" +
                    f.tool->name + "\n"
                    "  (or name runbook's ledger deliberately: --set ledger=public.runbook_ledger)");
}

void Ledger::refuse_foreign_table() {
  // Another tool's table under the ledger's name (golang-migrate and dbmate both default to
  // schema_migrations): never read or ALTER it as ours.
  auto r = conn_.query(
      "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped"
      " ORDER BY attnum",
      {quoted_});
  std::vector<std::string> columns;
  for (const auto& row : r.rows) columns.push_back(row.at(0).text);
  const bool ours = std::find(columns.begin(), columns.end(), "filename") != columns.end() &&
                    std::find(columns.begin(), columns.end(), "sha256") != columns.end();
  if (ours) return;
  std::string cols;
  for (const auto& c : columns) cols += (cols.empty() ? "" : ", ") + c;
  const auto* tool = tool_of_columns(columns);
  std::string msg = "the ledger table " + name_.qualified() + " exists but is not a runbook ledger (columns: " + cols +
                    ")" + (tool ? "; it looks like " + std::string(tool->name) + "'s own table" : "") +
                    ".\n  runbook never changes another tool's table.";
  if (tool)
    msg += " Choose one:\n  - keep " + std::string(tool->name) + "'s ledger in step with runbook's: --set ledger=" +
           tool->name + "\n  - adopt from it: runbook adopt.lua --set tool=" + tool->name +
           "\n  - or another ledger name for runbook: --set ledger=public.runbook_ledger";
  else
    msg += " Choose another ledger name, e.g. --set ledger=public.runbook_ledger";
  throw ConfigError(msg);
}

void Ledger::ensure() {
  exists();  // refuses another tool's table of the same name before anything is created or altered
  if (tool_) {
    // The tool's table as the tool itself creates it, so the tool finds its ledger in step.
    auto r = conn_.query("SELECT to_regclass($1) IS NOT NULL", {name_.tool_table});
    if (!r.rows.at(0).at(0).boolean) conn_.run_script(tool_->create_sql(conn_, name_.tool_table));
  }
  conn_.run_script(
      "CREATE SCHEMA IF NOT EXISTS " + conn_.quote_name(name_.schema) + ";\n"
      "CREATE TABLE IF NOT EXISTS " + quoted_ + " (\n"
      "  filename text PRIMARY KEY,\n"
      "  sha256 text NOT NULL,\n"
      "  applied_at timestamptz NOT NULL DEFAULT now()\n"
      ");\n"
      "ALTER TABLE " + quoted_ + "\n"
      "  ADD COLUMN IF NOT EXISTS version text,\n"
      "  ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'applied',\n"
      "  ADD COLUMN IF NOT EXISTS execution_ms bigint,\n"
      "  ADD COLUMN IF NOT EXISTS applied_by text,\n"
      "  ADD COLUMN IF NOT EXISTS run_id text,\n"
      "  ADD COLUMN IF NOT EXISTS statements_done integer,\n"
      "  ADD COLUMN IF NOT EXISTS failed_statement integer,\n"
      "  ADD COLUMN IF NOT EXISTS error text");
}

std::string lock_holder(db::Connection& conn, std::int64_t key, bool others_only) {
  const auto ukey = static_cast<std::uint64_t>(key);
  auto r = conn.query(
      "SELECT coalesce(nullif(a.application_name, ''), 'unknown application'),"
      " coalesce(a.client_hostname, host(a.client_addr), 'local socket'), a.pid,"
      " to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'), coalesce(a.usename, '')"
      " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
      " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid AND l.objid = $2::oid"
      " AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())" +
          std::string(others_only ? " AND l.pid <> pg_backend_pid()" : ""),
      {std::to_string(ukey >> 32), std::to_string(ukey & 0xffffffffULL)});
  if (r.rows.empty()) return "";
  const auto& c = r.rows[0];
  return c[0].text + " (user " + c[4].text + ") on " + c[1].text + ", pid " + std::to_string(c[2].integer) +
         ", connected since " + c[3].text;
}

std::vector<LedgerRow> Ledger::read() {
  auto rows = read_own();
  if (tool_) merge_tool_rows(rows);
  return rows;
}

void Ledger::merge_tool_rows(std::vector<LedgerRow>& rows) {
  if (!chain_) throw std::logic_error("compatibility-mode ledger read without its chain");
  auto r = conn_.query("SELECT to_regclass($1) IS NOT NULL", {name_.tool_table});
  std::vector<ToolRecord> records;
  if (r.rows.at(0).at(0).boolean) records = tool_->read(conn_, name_.tool_table, *chain_);
  const std::string tool = tool_->name;
  // runbook's first recorded migration in chain order: what only the tool recorded before it
  // was applied before runbook was used; after it, by something else (the application's
  // start-up, the tool's CLI) and the ledgers disagree.
  int own_first = -1;
  std::vector<bool> own(chain_->migrations.size(), false);
  for (const auto& row : rows) {
    const int i = index_by_name(*chain_, row.filename);
    if (i < 0) continue;
    own[static_cast<std::size_t>(i)] = true;
    if (own_first < 0 || i < own_first) own_first = i;
  }
  std::vector<bool> in_tool(chain_->migrations.size(), false);
  for (const auto& rec : records) {
    if (rec.index < 0) {
      LedgerRow extra;
      extra.filename = tool + " " + rec.key;
      extra.version = rec.key;
      extra.disagreement = tool + "'s ledger records " + rec.key + ", which is not in the migrations directory";
      rows.push_back(std::move(extra));
      continue;
    }
    const auto i = static_cast<std::size_t>(rec.index);
    in_tool[i] = true;
    const Migration& m = chain_->migrations[i];
    LedgerRow* mine = nullptr;
    for (auto& row : rows)
      if (row.filename == m.name) mine = &row;
    if (rec.failed) {
      if (!mine) {
        rows.emplace_back();
        mine = &rows.back();
        mine->filename = m.name;
        mine->version = m.version;
        mine->sha256 = m.sha256;
        mine->applied_by = tool;
      }
      if (mine->status != "dirty") {
        mine->status = "dirty";
        mine->error = tool + ": " + rec.failure;
      }
      continue;
    }
    if (!mine) {
      LedgerRow row;
      row.filename = m.name;
      row.version = m.version;
      row.sha256 = m.sha256;  // the tool's own checksum, where it keeps one, is checked below
      row.applied_by = tool;
      if (own_first >= 0 && rec.index > own_first)
        row.disagreement = m.name + " is recorded by " + tool + " but not by runbook: it was applied outside runbook "
                           "(the application's start-up or " + tool + " itself)";
      rows.push_back(std::move(row));
      mine = &rows.back();
    }
    if (rec.checksum_differs && mine->disagreement.empty())
      mine->disagreement = m.name + " was edited after " + tool + " applied it (" + tool + "'s checksum differs)";
  }
  for (auto& row : rows) {
    const int i = index_by_name(*chain_, row.filename);
    if (i < 0 || !own[static_cast<std::size_t>(i)] || in_tool[static_cast<std::size_t>(i)]) continue;
    if (row.status != "applied" || !row.disagreement.empty()) continue;
    if (chain_->migrations[static_cast<std::size_t>(i)].repeatable) continue;
    row.disagreement = row.filename + " is recorded by runbook but not in " + tool + "'s ledger " + name_.tool_table +
                       " (removed there, or applied before --set ledger=" + tool + ")";
  }
}

std::vector<LedgerRow> Ledger::read_own() {
  ++run_stats().ledger_reads;
  std::vector<LedgerRow> rows;
  if (!exists()) return rows;
  // to_jsonb(l) tolerates a minimal adopted ledger that lacks our extra columns.
  auto r = conn_.query(
      "SELECT l.filename, l.sha256, to_char(l.applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
      " j->>'version', coalesce(j->>'status', 'applied'), (j->>'execution_ms')::bigint,"
      " j->>'applied_by', j->>'run_id', (j->>'statements_done')::int, (j->>'failed_statement')::int,"
      " j->>'error'"
      " FROM " + quoted_ + " l, LATERAL to_jsonb(l) j ORDER BY l.applied_at, l.filename");
  rows.reserve(r.rows.size());
  for (const auto& c : r.rows) {
    LedgerRow row;
    row.filename = c[0].text;
    row.sha256 = c[1].text;
    row.applied_at = c[2].text;
    row.version = c[3].text;
    row.status = c[4].text;
    row.execution_ms = c[5].integer;
    row.applied_by = c[6].text;
    row.run_id = c[7].text;
    row.statements_done = static_cast<int>(c[8].integer);
    row.failed_statement = static_cast<int>(c[9].integer);
    row.error = c[10].text;
    rows.push_back(std::move(row));
  }
  // A running row is only in progress while its runner still holds the ledger's lock.
  bool any_running = false;
  for (const auto& row : rows) any_running = any_running || row.status == "running";
  if (any_running && !lock_holder(conn_, lock_key(), true).empty())
    for (auto& row : rows) row.in_progress = row.status == "running";
  return rows;
}

std::vector<std::string> Ledger::tool_sql(const std::string& filename, const char* what, const std::string& error,
                                          long long execution_ms) const {
  if (!tool_) return {};
  if (!chain_) throw std::logic_error("compatibility-mode ledger write without its chain");
  const Migration* m = chain_->find(filename);
  if (!m) return {};
  ToolWrite w;
  w.chain = chain_;
  w.timed_by_transaction = std::string(what) == "applied-timed";
  w.execution_ms = execution_ms;
  const std::string& t = name_.tool_table;
  if (std::string(what) == "removed") return tool_->removed_sql(conn_, t, *m, w);
  if (std::string(what) == "failed") return tool_->failed_sql ? tool_->failed_sql(conn_, t, *m, w, error) : std::vector<std::string>{};
  return tool_->applied_sql(conn_, t, *m, w);
}

std::vector<std::string> Ledger::insert_applied_sql(const std::string& filename, const std::string& version,
                                                    const std::string& sha256, const std::string& applied_by,
                                                    const std::string& run_id, bool timed_by_transaction) const {
  const std::string ms = timed_by_transaction
                             ? "(extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint"
                             : "NULL";
  std::vector<std::string> out = tool_sql(filename, timed_by_transaction ? "applied-timed" : "applied");
  out.push_back("INSERT INTO " + quoted_ +
         " (filename, version, sha256, status, execution_ms, applied_by, run_id) VALUES (" +
         conn_.quote(filename) + ", " + conn_.quote(version) + ", " + conn_.quote(sha256) +
         ", 'applied', " + ms + ", " + conn_.quote(applied_by) + ", " + conn_.quote(run_id) +
         ") ON CONFLICT (filename) DO UPDATE SET sha256 = EXCLUDED.sha256, status = 'applied',"
         " applied_at = now(), execution_ms = EXCLUDED.execution_ms, applied_by = EXCLUDED.applied_by,"
         " run_id = EXCLUDED.run_id, statements_done = NULL, failed_statement = NULL, error = NULL");
  return out;
}

void Ledger::record_applied(const std::string& filename, const std::string& version, const std::string& sha256,
                            long long execution_ms, const std::string& applied_by, const std::string& run_id) {
  // Both ledgers in one simple query: one implicit transaction, so they never disagree.
  auto statements = tool_sql(filename, "applied", "", execution_ms);
  statements.push_back(insert_applied_sql(filename, version, sha256, applied_by, run_id, false).back());
  statements.push_back("UPDATE " + quoted_ + " SET execution_ms = " + std::to_string(execution_ms) +
                       " WHERE filename = " + conn_.quote(filename));
  conn_.run_script(joined(statements));
}

void Ledger::record_dirty(const std::string& filename, const std::string& version, const std::string& sha256,
                          long long execution_ms, const std::string& applied_by, const std::string& run_id,
                          int statements_done, int failed_statement, const std::string& error) {
  conn_.query("INSERT INTO " + quoted_ +
                  " (filename, version, sha256, status, execution_ms, applied_by, run_id,"
                  "  statements_done, failed_statement, error)"
                  " VALUES ($1, $2, $3, 'dirty', $4, $5, $6, $7, $8, $9)"
                  " ON CONFLICT (filename) DO UPDATE SET sha256 = EXCLUDED.sha256, status = 'dirty',"
                  " applied_at = now(), execution_ms = EXCLUDED.execution_ms, applied_by = EXCLUDED.applied_by,"
                  " run_id = EXCLUDED.run_id, statements_done = EXCLUDED.statements_done,"
                  " failed_statement = EXCLUDED.failed_statement, error = EXCLUDED.error",
              {filename, version, sha256, std::to_string(execution_ms), applied_by, run_id,
               std::to_string(statements_done), std::to_string(failed_statement), error});
  for (const auto& sql : tool_sql(filename, "failed", error, execution_ms)) conn_.run_script(sql);
}

void Ledger::record_running(const std::string& filename, const std::string& version, const std::string& sha256,
                            const std::string& applied_by, const std::string& run_id) {
  conn_.query("INSERT INTO " + quoted_ +
                  " (filename, version, sha256, status, applied_by, run_id, statements_done, failed_statement)"
                  " VALUES ($1, $2, $3, 'running', $4, $5, 0, 1)"
                  " ON CONFLICT (filename) DO UPDATE SET sha256 = EXCLUDED.sha256, status = 'running',"
                  " applied_at = now(), execution_ms = NULL, applied_by = EXCLUDED.applied_by,"
                  " run_id = EXCLUDED.run_id, statements_done = 0, failed_statement = 1, error = NULL",
              {filename, version, sha256, applied_by, run_id});
}

void Ledger::record_progress(const std::string& filename, int statements_done) {
  conn_.query("UPDATE " + quoted_ + " SET statements_done = $2, failed_statement = $2 + 1"
              " WHERE filename = $1 AND status = 'running'",
              {filename, std::to_string(statements_done)});
}

void Ledger::forget_running(const std::string& filename) {
  conn_.query("DELETE FROM " + quoted_ + " WHERE filename = $1 AND status = 'running'", {filename});
}

std::vector<std::string> Ledger::delete_sql(const std::string& filename) const {
  std::vector<std::string> out{"DELETE FROM " + quoted_ + " WHERE filename = " + conn_.quote(filename)};
  for (auto& sql : tool_sql(filename, "removed")) out.push_back(std::move(sql));
  return out;
}

void Ledger::remove(const std::string& filename) { conn_.run_script(joined(delete_sql(filename))); }

std::optional<std::int64_t> Ledger::tool_lock_key() const {
  if (!tool_ || !tool_->lock_key) return std::nullopt;
  return tool_->lock_key(conn_, name_.tool_table);
}

std::int64_t Ledger::lock_key() const {
  // First 8 bytes of SHA-256("runbook ledger " + name) as a signed 64-bit key.
  const std::string hex = sha256_hex("runbook ledger " + name_.qualified()).substr(0, 16);
  return static_cast<std::int64_t>(std::stoull(hex, nullptr, 16));
}

}  // namespace rb::migrations
