// postgrator (postgrator.js, lib/drivers/pg.js): schemaversion(version bigint primary key,
// name text, md5 text, run_at timestamptz), created with a first row (version 0, NULLs). One
// row per applied migration: its version, the name between `.do.` and `.sql`, the MD5 of the
// .do. file, which postgrator checks on every run ("MD5 checksum failed for migration [N]").
// Undo deletes the version's row. No failed state.
#include "engine/hash.hpp"
#include "engine/tool_ledger.hpp"

namespace rb::migrations {
namespace {

bool matches(const std::vector<std::string>& c) { return c == std::vector<std::string>{"version", "name", "md5", "run_at"}; }

std::string create_sql(db::Connection& conn, const std::string& table) {
  const std::string t = quoted_table(conn, table);
  return "CREATE TABLE IF NOT EXISTS " + t + " (version BIGINT PRIMARY KEY, name TEXT, md5 TEXT, run_at TIMESTAMPTZ);\n"
         "INSERT INTO " + t + " (version, name, md5, run_at) VALUES (0, NULL, NULL, NULL)";
}

std::string name_of(const Migration& m) {
  const auto at = m.name.find(".do.");
  return at == std::string::npos ? m.name : m.name.substr(at + 4, m.name.size() - at - 4 - 4);
}

std::vector<ToolRecord> read(db::Connection& conn, const std::string& table, const Chain& chain) {
  auto r = conn.query("SELECT version::text, coalesce(md5, '') FROM " + quoted_table(conn, table) +
                      " WHERE version > 0 ORDER BY version");
  std::vector<ToolRecord> out;
  for (const auto& row : r.rows) {
    ToolRecord rec;
    rec.key = row.at(0).text;
    rec.index = index_by_version(chain, rec.key);
    if (rec.index >= 0)
      rec.checksum_differs = row.at(1).text != md5_hex(chain.migrations[static_cast<std::size_t>(rec.index)].up_sql);
    out.push_back(std::move(rec));
  }
  return out;
}

std::vector<std::string> applied_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  return {"INSERT INTO " + quoted_table(conn, table) + " (version, name, md5, run_at) VALUES (" + conn.quote(m.version) +
          "::bigint, " + conn.quote(name_of(m)) + ", " + conn.quote(md5_hex(m.up_sql)) + ", now())"};
}

std::vector<std::string> removed_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  return {"DELETE FROM " + quoted_table(conn, table) + " WHERE version = " + conn.quote(m.version) + "::bigint"};
}

}  // namespace

const ToolLedgerModule kPostgratorLedger{"postgrator", "public.schemaversion", "postgrator", matches, create_sql, read,
                                         applied_sql, removed_sql, nullptr,
    nullptr /* takes no lock runbook can share */};

}  // namespace rb::migrations
