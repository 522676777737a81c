// node-pg-migrate (src/runner.ts, src/migration.ts, src/db.ts): pgmigrations(id serial,
// name varchar(255), run_on timestamp), one row per applied migration, identified by its name:
// the file name without its extension. No checksum, no failed state (a failed migration's
// transaction leaves no row).
#include "engine/layout.hpp"
#include "engine/tool_ledger.hpp"

namespace rb::migrations {
namespace {

bool matches(const std::vector<std::string>& c) { return c == std::vector<std::string>{"id", "name", "run_on"}; }

std::string create_sql(db::Connection& conn, const std::string& table) {
  return "CREATE TABLE " + quoted_table(conn, table) +
         " ( id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)";
}

std::string tool_name(const Migration& m) {
  const auto slash = m.name.rfind('/');
  std::string n = slash == std::string::npos ? m.name : m.name.substr(slash + 1);
  const auto dot = n.rfind('.');
  return dot == std::string::npos ? n : n.substr(0, dot);
}

std::vector<ToolRecord> read(db::Connection& conn, const std::string& table, const Chain& chain) {
  auto r = conn.query("SELECT name FROM " + quoted_table(conn, table) + " ORDER BY run_on, id");
  std::vector<ToolRecord> out;
  for (const auto& row : r.rows) {
    ToolRecord rec;
    rec.key = row.at(0).text;
    for (std::size_t i = 0; i < chain.migrations.size(); ++i)
      if (tool_name(chain.migrations[i]) == rec.key) rec.index = static_cast<int>(i);
    out.push_back(std::move(rec));
  }
  return out;
}

std::vector<std::string> applied_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  return {"INSERT INTO " + quoted_table(conn, table) + " (name, run_on) VALUES (" + conn.quote(tool_name(m)) + ", NOW())"};
}

std::vector<std::string> removed_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  return {"DELETE FROM " + quoted_table(conn, table) + " WHERE name = " + conn.quote(tool_name(m))};
}

// PG_MIGRATE_LOCK_ID (src/runner.ts).
std::int64_t lock_key(db::Connection&, const std::string&) { return 7241865325823964LL; }

}  // namespace

const ToolLedgerModule kNodePgMigrateLedger{"node-pg-migrate", "public.pgmigrations", "node-pg-migrate", matches,
                                            create_sql, read, applied_sql, removed_sql, nullptr, lock_key};

}  // namespace rb::migrations
