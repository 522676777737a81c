// golang-migrate (database/postgres/postgres.go): schema_migrations(version bigint PK, dirty
// boolean) holds ONE row, the current version; every migration up to it is applied. Before a
// migration runs the row becomes (version, dirty = true), after it (version, false); SetVersion
// empties the table and inserts the row in one transaction. A dirty row stops the tool
// ("Dirty database version N. Fix and force version."): its users repair the database and run
// `migrate force N` (applied) or `migrate force <previous>` (not applied).
#include "engine/tool_ledger.hpp"

namespace rb::migrations {
namespace {

bool matches(const std::vector<std::string>& c) { return c == std::vector<std::string>{"version", "dirty"}; }

std::string create_sql(db::Connection& conn, const std::string& table) {
  return "CREATE TABLE IF NOT EXISTS " + quoted_table(conn, table) + " (version bigint not null primary key, dirty boolean not null)";
}

std::vector<ToolRecord> read(db::Connection& conn, const std::string& table, const Chain& chain) {
  auto r = conn.query("SELECT version::text, dirty FROM " + quoted_table(conn, table) + " LIMIT 1");
  std::vector<ToolRecord> out;
  if (r.rows.empty()) return out;
  const std::string current = r.rows[0].at(0).text;
  const bool dirty = r.rows[0].at(1).boolean;
  const int at = index_by_version(chain, current);
  if (at < 0 && current != "-1") {
    ToolRecord rec;
    rec.key = current;
    out.push_back(rec);
    return out;
  }
  for (int i = 0; i <= at; ++i) {
    ToolRecord rec;
    rec.key = chain.migrations[static_cast<std::size_t>(i)].version;
    rec.index = i;
    if (i == at && dirty) {
      rec.failed = true;
      rec.failure = "golang-migrate marks version " + current + " dirty; repair the database, then `migrate force " +
                    current + "` (applied) or force the previous version (not applied), or resolve it with runbook";
    }
    out.push_back(std::move(rec));
  }
  return out;
}

// golang-migrate's SetVersion: TRUNCATE, then the row (none for the nil version).
std::vector<std::string> set_version(db::Connection& conn, const std::string& table, const std::string& version,
                                     bool dirty) {
  const std::string t = quoted_table(conn, table);
  std::vector<std::string> out{"TRUNCATE " + t};
  if (!version.empty())
    out.push_back("INSERT INTO " + t + " (version, dirty) VALUES (" + conn.quote(version) + "::bigint, " +
                  (dirty ? "true" : "false") + ")");
  return out;
}

std::vector<std::string> applied_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  return set_version(conn, table, m.version, false);
}

std::vector<std::string> removed_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite& w) {
  // The version before m becomes current; none: golang-migrate's empty table (nil version).
  const int i = w.chain ? index_by_version(*w.chain, m.version) : -1;
  return set_version(conn, table, i > 0 ? w.chain->migrations[static_cast<std::size_t>(i - 1)].version : "", false);
}

std::vector<std::string> failed_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&,
                       const std::string&) {
  return set_version(conn, table, m.version, true);
}

}  // namespace

const ToolLedgerModule kGolangMigrateLedger{"golang-migrate", "public.schema_migrations", "golang-migrate", matches,
                                            create_sql, read, applied_sql, removed_sql, failed_sql,
    nullptr /* takes no lock runbook can share */};

}  // namespace rb::migrations
