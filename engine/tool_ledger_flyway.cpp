// Flyway (flyway-core: JdbcTableSchemaHistory, PostgreSQL createMetaDataTable.sql,
// ChecksumCalculator): flyway_schema_history(installed_rank, version, description, type,
// script, checksum, installed_by, installed_on, execution_time, success). Versioned migrations
// are identified by version, repeatables (version NULL) by script name and checksum: the CRC-32
// of the file's lines (BOM stripped, each line's UTF-8 bytes without its line ending), stored as
// a signed 32-bit integer. success = false is a failed migration (`flyway repair` removes it).
// A BASELINE row makes every version up to its own count as applied.
#include <algorithm>
#include <map>

#include "engine/hash.hpp"
#include "engine/layout.hpp"
#include "engine/tool_ledger.hpp"

namespace rb::migrations {
namespace {

bool matches(const std::vector<std::string>& c) {
  return c == std::vector<std::string>{"installed_rank", "version", "description", "type", "script",
                                       "checksum", "installed_by", "installed_on", "execution_time", "success"};
}

std::string create_sql(db::Connection& conn, const std::string& table) {
  const std::string t = quoted_table(conn, table);
  const std::string bare = table.substr(table.find('.') + 1);
  const std::string schema = table.substr(0, table.find('.'));
  return "CREATE TABLE " + t +
         " (\n    \"installed_rank\" INT NOT NULL,\n    \"version\" VARCHAR(50),\n"
         "    \"description\" VARCHAR(200) NOT NULL,\n    \"type\" VARCHAR(20) NOT NULL,\n"
         "    \"script\" VARCHAR(1000) NOT NULL,\n    \"checksum\" INTEGER,\n"
         "    \"installed_by\" VARCHAR(100) NOT NULL,\n    \"installed_on\" TIMESTAMP NOT NULL DEFAULT now(),\n"
         "    \"execution_time\" INTEGER NOT NULL,\n    \"success\" BOOLEAN NOT NULL\n);\n"
         "ALTER TABLE " + t + " ADD CONSTRAINT " + conn.quote_name(bare + "_pk") + " PRIMARY KEY (\"installed_rank\");\n"
         "CREATE INDEX " + conn.quote_name(bare + "_s_idx") + " ON " + t + " (\"success\")";
  (void)schema;
}

}  // namespace

// Exposed for the tests: Flyway's checksum of a file's text.
std::int32_t flyway_checksum(const std::string& text) {
  std::string_view s(text);
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  std::uint32_t crc = 0;
  std::size_t at = 0;
  while (at < s.size()) {
    std::size_t end = at;
    while (end < s.size() && s[end] != '\n' && s[end] != '\r') ++end;
    crc = crc32_update(crc, s.substr(at, end - at));
    if (end < s.size() && s[end] == '\r' && end + 1 < s.size() && s[end + 1] == '\n') ++end;
    at = end + 1;
  }
  return static_cast<std::int32_t>(crc);
}

namespace {

// "V1_1__add_users.sql" -> version "1.1" (as Flyway shows it), description "add users".
std::string raw_version(const Migration& m) {
  if (m.repeatable) return "";
  std::string v = m.name.substr(1, m.name.find("__") - 1);
  std::replace(v.begin(), v.end(), '_', '.');
  return v;
}

std::string description(const Migration& m) {
  std::string d = m.name.substr(m.name.find("__") + 2);
  if (ends_with(d, ".sql")) d.resize(d.size() - 4);
  std::replace(d.begin(), d.end(), '_', ' ');
  return d;
}

std::vector<ToolRecord> read(db::Connection& conn, const std::string& table, const Chain& chain) {
  auto r = conn.query("SELECT coalesce(version, ''), type, script, coalesce(checksum::text, ''), success FROM " +
                      quoted_table(conn, table) + " ORDER BY installed_rank");
  std::map<std::string, ToolRecord> latest;  // by version, or by script for repeatables
  std::vector<std::string> order;
  std::string baseline;
  for (const auto& row : r.rows) {
    const std::string version = row.at(0).text, type = row.at(1).text, script = row.at(2).text;
    if (type == "SCHEMA" || type == "DELETE") continue;
    if (type == "BASELINE") {
      baseline = version;
      continue;
    }
    const std::string key = version.empty() ? script : version;
    if (type == "UNDO_SQL") {
      latest.erase(key);
      continue;
    }
    ToolRecord rec;
    rec.key = key;
    rec.index = version.empty() ? index_by_name(chain, script) : index_by_version(chain, version);
    rec.failed = !row.at(4).boolean;
    if (rec.failed)
      rec.failure = "Flyway records " + key + " as failed (success = false); repair the database, then `flyway repair`, "
                    "or resolve it with runbook";
    if (rec.index >= 0 && !rec.failed) {
      const Migration& m = chain.migrations[static_cast<std::size_t>(rec.index)];
      const bool same = row.at(3).text == std::to_string(flyway_checksum(m.up_sql));
      if (m.repeatable && !same) {  // changed since: Flyway runs it again; not applied now
        latest.erase(key);
        continue;
      }
      rec.checksum_differs = !same;
    }
    if (!latest.count(key)) order.push_back(key);
    latest[key] = rec;
  }
  std::vector<ToolRecord> out;
  if (!baseline.empty())
    for (std::size_t i = 0; i < chain.migrations.size(); ++i)
      if (!chain.migrations[i].repeatable && compare_versions(chain.migrations[i].version, baseline) <= 0) {
        ToolRecord rec;
        rec.key = chain.migrations[i].version;
        rec.index = static_cast<int>(i);
        if (!latest.count(rec.key)) out.push_back(rec);
      }
  for (const auto& k : order)
    if (latest.count(k)) out.push_back(latest[k]);
  return out;
}

std::vector<std::string> applied_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite& w) {
  const std::string t = quoted_table(conn, table);
  const std::string version = raw_version(m);
  // A failed row of it goes first, as `flyway repair` removes failed rows.
  return {"DELETE FROM " + t + " WHERE NOT success AND " +
              (version.empty() ? "version IS NULL AND script = " + conn.quote(m.name) : "version = " + conn.quote(version)),
          "INSERT INTO " + t +
         " (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)"
         " SELECT coalesce(max(installed_rank), 0) + 1, " + (version.empty() ? "NULL" : conn.quote(version)) + ", " +
         conn.quote(description(m)) + ", 'SQL', " + conn.quote(m.name) + ", " +
         std::to_string(flyway_checksum(m.up_sql)) + ", current_user, " + elapsed_sql(w, 1000) + ", true FROM " + t};
}

std::vector<std::string> removed_sql(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite&) {
  // A failed row goes as `flyway repair` removes it; a successful one is undone with an UNDO_SQL
  // row, as Flyway's undo records it (reading treats it as "no longer applied").
  const std::string t = quoted_table(conn, table);
  const std::string version = raw_version(m);
  const std::string which =
      version.empty() ? "version IS NULL AND script = " + conn.quote(m.name) : "version = " + conn.quote(version);
  return {"DELETE FROM " + t + " WHERE NOT success AND " + which,
          "INSERT INTO " + t +
              " (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)"
              " SELECT coalesce(max(installed_rank), 0) + 1, " + (version.empty() ? "NULL" : conn.quote(version)) + ", " +
              conn.quote(description(m)) + ", 'UNDO_SQL', " +
              conn.quote(m.down_path.empty() ? m.name : m.down_path.substr(m.down_path.rfind('/') + 1)) + ", " +
              (m.down_sql.empty() ? "NULL" : std::to_string(flyway_checksum(m.down_sql))) + ", current_user, 0, true FROM " +
              t + " HAVING bool_or(type = 'SQL' AND success AND " + which + ")"};
}

std::vector<std::string> failed_sql(db::Connection& conn, const std::string& table, const Migration& m,
                                    const ToolWrite& w, const std::string&) {
  auto sql = applied_sql(conn, table, m, w);
  sql.back().replace(sql.back().rfind("true FROM"), 4, "false");
  return sql;
}

// PostgreSQLAdvisoryLockTemplate: 0x466C79776179 ("Flyway") + Java's String.hashCode of the
// quoted table name, "schema"."table".
std::int64_t lock_key(db::Connection&, const std::string& table) {
  const auto dot = table.find('.');
  const std::string quoted = "\"" + table.substr(0, dot) + "\".\"" + table.substr(dot + 1) + "\"";
  std::int32_t h = 0;
  for (unsigned char c : quoted) h = static_cast<std::int32_t>(31u * static_cast<std::uint32_t>(h) + c);
  return 0x466C79776179LL + h;
}

}  // namespace

const ToolLedgerModule kFlywayLedger{"flyway", "public.flyway_schema_history", "flyway", matches, create_sql, read,
                                     applied_sql, removed_sql, failed_sql, lock_key};

}  // namespace rb::migrations
