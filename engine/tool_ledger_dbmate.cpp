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

std::vector<ToolRecord> read(db::Connection& conn, const std::string& table, const Chain& chain) {
  auto r = conn.query("SELECT version::text FROM " + quoted_table(conn, table) + " ORDER BY version");
  std::vector<ToolRecord> out;
  for (const auto& row : r.rows) {
    ToolRecord rec;
    rec.key = row.at(0).text;
    for (std::size_t i = 0; i < chain.migrations.size(); ++i)
      if (chain.migrations[i].version == rec.key) rec.index = static_cast<int>(i);  // dbmate compares text
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

const ToolLedgerModule kDbmateLedger{"dbmate", "public.schema_migrations", "dbmate", matches, create_sql, read,
                                     applied_sql, removed_sql, nullptr,
    nullptr /* takes no lock runbook can share */};

}  // namespace rb::migrations
