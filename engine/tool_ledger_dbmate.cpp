// dbmate (pkg/driver/postgres/postgres.go): schema_migrations(version varchar primary key),
// one row per applied migration, the version being the file name's leading digits. No checksum,
// no failed state: a failed migration leaves no row (dbmate runs each in a transaction unless
// transaction:false).
#include "engine/tool_ledger.hpp"

namespace rb::migrations {
namespace {

bool matches(const std::vector<std::string>& c) { return c == std::vector<std::string>{"version"}; }

std::string create_sql(db::Connection& conn, const std::string& table) {
  return "CREATE TABLE IF NOT EXISTS " + quoted_table(conn, table) + " (version varchar primary key)";
}

}  // namespace

const ToolLedgerModule kDbmateLedger{"dbmate", "public.schema_migrations", "dbmate", matches, create_sql, read_version_set,
                                     insert_version_sql, delete_version_sql, nullptr,
    nullptr /* takes no lock runbook can share */};

}  // namespace rb::migrations
