// diesel (diesel_migrations/src/migration_harness.rs, diesel/src/migration/mod.rs):
// __diesel_schema_migrations(version varchar(50) primary key, run_on timestamp default now),
// the version being the directory name's text before the first `_` with every `-` removed.
// No checksum; a failed migration leaves no row (each runs in a transaction unless metadata.toml
// says otherwise).
#include "engine/tool_ledger.hpp"

namespace rb::migrations {
namespace {

bool matches(const std::vector<std::string>& c) { return c == std::vector<std::string>{"version", "run_on"}; }

std::string create_sql(db::Connection& conn, const std::string& table) {
  return "CREATE TABLE IF NOT EXISTS " + quoted_table(conn, table) +
         " (\n       version VARCHAR(50) PRIMARY KEY NOT NULL,\n       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n)";
}

std::vector<ToolRecord> read(db::Connection& conn, const std::string& table, const Chain& chain) {
  auto r = conn.query("SELECT version FROM " + quoted_table(conn, table) + " ORDER BY version");
  std::vector<ToolRecord> out;
  for (const auto& row : r.rows) {
    ToolRecord rec;
    rec.key = row.at(0).text;
    for (std::size_t i = 0; i < chain.migrations.size(); ++i)
      if (chain.migrations[i].version == rec.key) rec.index = static_cast<int>(i);
    out.push_back(std::move(rec));
  }
  return out;
}

std::vector<std::string> applied_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  return {"INSERT INTO " + quoted_table(conn, table) + " (version) VALUES (" + conn.quote(m.version) + ")"};
}

std::vector<std::string> removed_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  return {"DELETE FROM " + quoted_table(conn, table) + " WHERE version = " + conn.quote(m.version)};
}

}  // namespace

const ToolLedgerModule kDieselLedger{"diesel", "public.__diesel_schema_migrations", "diesel", matches, create_sql, read,
                                     applied_sql, removed_sql, nullptr,
    nullptr /* takes no lock runbook can share */};

}  // namespace rb::migrations
