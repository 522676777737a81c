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

}  // namespace

const ToolLedgerModule kDieselLedger{"diesel", "public.__diesel_schema_migrations", "diesel", matches, create_sql, read_version_set,
                                     insert_version_sql, delete_version_sql, nullptr,
    nullptr /* takes no lock runbook can share */};

}  // namespace rb::migrations
