// sqlx (sqlx-postgres/src/migrate.rs, sqlx-core/src/migrate/migration.rs, source.rs):
// _sqlx_migrations(version bigint PK, description, installed_on, success, checksum bytea,
// execution_time bigint nanoseconds). A migration is identified by its version; the checksum
// is SHA-384 of the file's SQL, and sqlx refuses to run when an applied one differs. A row with
// success = false is a migration that failed part-way ("partially applied"): sqlx refuses to
// continue until the row is deleted after the database is repaired.
#include <algorithm>

#include "engine/hash.hpp"
#include "engine/layout.hpp"
#include "engine/tool_ledger.hpp"

namespace rb::migrations {
namespace {

bool matches(const std::vector<std::string>& c) {
  return c == std::vector<std::string>{"version", "description", "installed_on", "success", "checksum", "execution_time"};
}

std::string create_sql(db::Connection& conn, const std::string& table) {
  return "CREATE TABLE IF NOT EXISTS " + quoted_table(conn, table) +
         " (\n    version BIGINT PRIMARY KEY,\n    description TEXT NOT NULL,\n"
         "    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),\n    success BOOLEAN NOT NULL,\n"
         "    checksum BYTEA NOT NULL,\n    execution_time BIGINT NOT NULL\n)";
}

// "20240101120000_create_users.up.sql" -> "create users" (sqlx: the name after the version,
// without the .up/.down suffix, `_` read as a space).
std::string description(const std::string& file) {
  std::string d = file.substr(leading_digits(file).size());
  if (!d.empty() && d[0] == '_') d.erase(0, 1);
  for (const char* suffix : {".up.sql", ".down.sql", ".sql"})
    if (ends_with(d, suffix)) {
      d.resize(d.size() - std::string(suffix).size());
      break;
    }
  std::replace(d.begin(), d.end(), '_', ' ');
  return d;
}

std::string checksum_hex(const Migration& m) { return sha384_hex(m.up_sql); }

std::vector<ToolRecord> read(db::Connection& conn, const std::string& table, const Chain& chain) {
  auto r = conn.query("SELECT version::text, success, encode(checksum, 'hex') FROM " + quoted_table(conn, table) +
                      " ORDER BY version");
  std::vector<ToolRecord> out;
  for (const auto& row : r.rows) {
    ToolRecord rec;
    rec.key = row.at(0).text;
    rec.index = index_by_version(chain, rec.key);
    rec.failed = !row.at(1).boolean;
    if (rec.failed)
      rec.failure = "migration " + rec.key + " is partially applied (success = false); repair the database, then "
                    "delete its row from " + table + " (sqlx's fix) or resolve it with runbook";
    if (rec.index >= 0 && !rec.failed)
      rec.checksum_differs = row.at(2).text != checksum_hex(chain.migrations[static_cast<std::size_t>(rec.index)]);
    out.push_back(std::move(rec));
  }
  return out;
}

std::vector<std::string> applied_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite& w) {
  // A partially applied row of it goes first: sqlx's own fix ("remove row from _sqlx_migrations").
  return {"DELETE FROM " + quoted_table(conn, table) + " WHERE version = " + conn.quote(m.version) +
              "::bigint AND NOT success",
          "INSERT INTO " + quoted_table(conn, table) +
         " (version, description, success, checksum, execution_time) VALUES (" + conn.quote(m.version) + "::bigint, " +
         conn.quote(description(m.name)) + ", TRUE, decode(" + conn.quote(checksum_hex(m)) + ", 'hex'), " +
         elapsed_sql(w, 1e9) + ")"};
}

std::vector<std::string> removed_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  return {"DELETE FROM " + quoted_table(conn, table) + " WHERE version = " + conn.quote(m.version) + "::bigint"};
}

// sqlx's generate_lock_id: 0x3d32ad9e * CRC-32 of the database name.
std::int64_t lock_key(db::Connection& conn, const std::string&) {
  const std::string db = conn.query("SELECT current_database()").rows.at(0).at(0).text;
  return static_cast<std::int64_t>(0x3d32ad9eLL * static_cast<std::int64_t>(crc32_update(0, db)));
}

}  // namespace

const ToolLedgerModule kSqlxLedger{"sqlx", "public._sqlx_migrations", "sqlx", matches, create_sql, read,
                                   applied_sql, removed_sql, nullptr, lock_key};

}  // namespace rb::migrations
