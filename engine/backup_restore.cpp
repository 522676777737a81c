#include "engine/backup_restore.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "engine/cancel.hpp"
#include "engine/errors.hpp"
#include "engine/shell.hpp"

namespace rb::backup {

namespace {

// The tables whose rows pg_dump writes (by default): ordinary tables and partitions, outside
// the system schemas, not members of an extension (CREATE EXTENSION makes those), not temporary.
constexpr const char* kTables = R"(
SELECT format('%I.%I', n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1)";

long long integer_of(const db::Cell& c) {
  if (c.type == db::CellType::integer) return c.integer;
  if (c.type == db::CellType::number) return static_cast<long long>(c.number);
  return std::stoll(c.text);
}

std::vector<TableRows> count_tables(db::Connection& conn) {
  std::vector<TableRows> out;
  for (const auto& row : conn.query(kTables).rows) {
    TableRows t;
    t.table = row[0].text;
    const auto r = conn.query("SELECT count(*) FROM " + t.table);
    t.rows = integer_of(r.rows.at(0).at(0));
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const TableRows& a, const TableRows& b) { return a.table < b.table; });
  return out;
}

// The first `n` lines of a tool's message, without trailing blank lines.
std::string first_lines(const std::string& text, std::size_t n = 6) {
  std::string out = text;
  std::size_t at = 0;
  for (std::size_t k = 0; k < n && at != std::string::npos; ++k) {
    at = text.find('\n', at);
    if (at != std::string::npos) ++at;
  }
  if (at != std::string::npos && at < text.size()) out = text.substr(0, at) + "…";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ' || out.back() == '\r')) out.pop_back();
  for (std::size_t i = 0; (i = out.find('\n', i)) != std::string::npos; i += 3) out.replace(i, 1, "\n  ");
  return out;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Census take_census(db::Connection& conn) {
  Census c;
  c.database = conn.database();
  // Local to the transaction the caller opened (a no-op outside one): rows hidden by row
  // security make the count fail, as they make pg_dump fail, instead of counting fewer.
  conn.query("SELECT set_config('row_security', 'off', true)");
  c.tables = count_tables(conn);
  for (const auto& row : conn.query("SELECT rolname::text FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1").rows)
    c.roles.push_back(row[0].text);
  return c;
}

RestoreCheck restore_and_compare(const std::string& archive, const ephemeral::Cluster& cluster, const Census& source) {
  RestoreCheck check;
  check.database = source.database.empty() ? "postgres" : source.database;
  if (check.database == "template0" || check.database == "template1") check.database += "_restored";
  {
    db::ConnectOptions admin;
    admin.conninfo = cluster.conninfo();
    admin.application_name = "runbook (restore check)";
    admin.private_cluster = true;
    db::Connection c(admin);
    for (const auto& role : source.roles) {
      const auto exists = c.query("SELECT 1 FROM pg_roles WHERE rolname = $1", {role});
      if (exists.rows.empty()) c.run_script("CREATE ROLE " + c.quote_name(role) + " NOLOGIN");
    }
    if (check.database != "postgres")
      c.run_script("CREATE DATABASE " + c.quote_name(check.database) + " TEMPLATE template0 ENCODING 'UTF8'");
  }

  const auto started = std::chrono::steady_clock::now();
  Command restore;
  // PATH's pg_restore: the one that has just read the archive whole (migrations::verify_backup).
  restore.argv = {"pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--no-tablespaces",
                  "--no-publications", "--no-subscriptions", "--no-security-labels",
                  "--dbname=" + cluster.conninfo(check.database), archive};
  restore.timeout_s = 6 * 3600;
  const auto r = run_command(restore);
  if (r.cancelled) throw AbortError("interrupted (" + cancel::reason() + ") while restoring " + archive + " to verify it");
  if (r.timed_out) throw StepError("restoring " + archive + " to verify it took longer than 6 hours and was stopped");
  if (r.exit_code != 0)
    throw StepError("backup " + archive + " does not restore (pg_restore into an ephemeral PostgreSQL " +
                    cluster.server().version + ", exit " + std::to_string(r.exit_code) + "):\n  " +
                    first_lines(r.err.empty() ? r.out : r.err));
  check.restore_ms = ms_since(started);

  const auto counting = std::chrono::steady_clock::now();
  db::ConnectOptions o;
  o.conninfo = cluster.conninfo(check.database);
  o.application_name = "runbook (restore check)";
  o.private_cluster = true;
  db::Connection copy(o);
  const auto restored = count_tables(copy);
  copy.close();
  check.count_ms = ms_since(counting);

  std::map<std::string, TableCheck> by_name;
  for (const auto& t : source.tables) {
    by_name[t.table].table = t.table;
    by_name[t.table].source = t.rows;
    check.rows += t.rows;
  }
  for (const auto& t : restored) {
    by_name[t.table].table = t.table;
    by_name[t.table].restored = t.rows;
  }
  for (auto& [name, t] : by_name) {
    if (t.source != t.restored) check.mismatches.push_back(t);
    check.tables.push_back(std::move(t));
  }
  return check;
}

}  // namespace rb::backup
