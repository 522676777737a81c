#include "engine/ledger.hpp"

#include <algorithm>

#include "engine/errors.hpp"
#include "engine/hash.hpp"
#include "engine/run_stats.hpp"

namespace rb::migrations {

Ledger::Ledger(db::Connection& conn, LedgerName name) : conn_(conn), name_(std::move(name)) {
  quoted_ = conn_.quote_name(name_.schema) + "." + conn_.quote_name(name_.table);
}

bool Ledger::exists() {
  auto r = conn_.query("SELECT to_regclass($1) IS NOT NULL", {quoted_});
  if (!r.rows.at(0).at(0).boolean) return false;
  refuse_foreign_table();
  return true;
}

namespace {
// Which migration tool keeps a table of this shape (column names in order), or "".
std::string tool_of(const std::vector<std::string>& columns) {
  auto has = [&](const char* c) { return std::find(columns.begin(), columns.end(), c) != columns.end(); };
  if (has("version") && has("dirty") && columns.size() == 2) return "golang-migrate";
  if (has("version") && columns.size() == 1) return "dbmate";
  if (has("version") && has("run_on")) return "diesel";
  if (has("checksum") && has("execution_time") && has("success")) return "sqlx";
  if (has("migration_name") && has("applied_steps_count")) return "Prisma";
  if (has("name") && has("run_on")) return "node-pg-migrate";
  if (has("version_id") && has("is_applied")) return "goose";
  if (has("installed_rank") && has("script")) return "Flyway";
  return "";
}
}  // namespace

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
  const std::string tool = tool_of(columns);
  throw ConfigError("the ledger table " + name_.qualified() + " exists but is not a runbook ledger (columns: " + cols +
                    ")" + (tool.empty() ? "" : "; it looks like " + tool + "'s own table") +
                    ".\n  runbook never changes another tool's table. Choose another ledger name, e.g. "
                    "--set ledger=public.runbook_ledger");
}

void Ledger::ensure() {
  exists();  // refuses another tool's table of the same name before anything is created or altered
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

std::vector<LedgerRow> Ledger::read() {
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
  return rows;
}

std::string Ledger::insert_applied_sql(const std::string& filename, const std::string& version,
                                       const std::string& sha256, const std::string& applied_by,
                                       const std::string& run_id, bool timed_by_transaction) const {
  const std::string ms = timed_by_transaction
                             ? "(extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint"
                             : "NULL";
  return "INSERT INTO " + quoted_ +
         " (filename, version, sha256, status, execution_ms, applied_by, run_id) VALUES (" +
         conn_.quote(filename) + ", " + conn_.quote(version) + ", " + conn_.quote(sha256) +
         ", 'applied', " + ms + ", " + conn_.quote(applied_by) + ", " + conn_.quote(run_id) +
         ") ON CONFLICT (filename) DO UPDATE SET sha256 = EXCLUDED.sha256, status = 'applied',"
         " applied_at = now(), execution_ms = EXCLUDED.execution_ms, applied_by = EXCLUDED.applied_by,"
         " run_id = EXCLUDED.run_id, statements_done = NULL, failed_statement = NULL, error = NULL";
}

void Ledger::record_applied(const std::string& filename, const std::string& version, const std::string& sha256,
                            long long execution_ms, const std::string& applied_by, const std::string& run_id) {
  conn_.run_script(insert_applied_sql(filename, version, sha256, applied_by, run_id, false));
  conn_.query("UPDATE " + quoted_ + " SET execution_ms = $2 WHERE filename = $1",
              {filename, std::to_string(execution_ms)});
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
}

std::string Ledger::delete_sql(const std::string& filename) const {
  return "DELETE FROM " + quoted_ + " WHERE filename = " + conn_.quote(filename);
}

void Ledger::remove(const std::string& filename) { conn_.run_script(delete_sql(filename)); }

std::int64_t Ledger::lock_key() const {
  // First 8 bytes of SHA-256("runbook ledger " + name) as a signed 64-bit key.
  const std::string hex = sha256_hex("runbook ledger " + name_.qualified()).substr(0, 16);
  return static_cast<std::int64_t>(std::stoull(hex, nullptr, 16));
}

}  // namespace rb::migrations
