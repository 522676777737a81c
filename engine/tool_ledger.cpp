#include "engine/tool_ledger.hpp"

#include <algorithm>
#include <sstream>

#include "engine/errors.hpp"
#include "engine/ledger.hpp"

namespace rb::migrations {

const std::vector<const ToolLedgerModule*>& tool_ledgers() {
  static const std::vector<const ToolLedgerModule*> all{&kSqlxLedger,   &kPrismaLedger,        &kGolangMigrateLedger,
                                                        &kDbmateLedger, &kDieselLedger,        &kNodePgMigrateLedger,
                                                        &kGooseLedger,  &kFlywayLedger,        &kPostgratorLedger};
  return all;
}

const ToolLedgerModule* find_tool_ledger(const std::string& name) {
  for (const auto* t : tool_ledgers())
    if (name == t->name) return t;
  return nullptr;
}

const ToolLedgerModule* tool_of_columns(const std::vector<std::string>& columns) {
  for (const auto* t : tool_ledgers())
    if (t->matches(columns)) return t;
  return nullptr;
}

std::vector<ForeignLedger> find_foreign_ledgers(db::Connection& conn) {
  // Tables of a known tool's name in any schema, with their columns in order: one query.
  std::vector<std::string> names;
  for (const auto* t : tool_ledgers()) {
    const std::string table = std::string(t->table).substr(std::string(t->table).find('.') + 1);
    if (std::find(names.begin(), names.end(), table) == names.end()) names.push_back(table);
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ",") + conn.quote(n);
  auto r = conn.query(
      "SELECT n.nspname, c.relname, c.reltuples::bigint,"
      " array_to_string(array(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0"
      "   AND NOT a.attisdropped ORDER BY a.attnum), ',')"
      " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
      " WHERE c.relkind IN ('r', 'p') AND c.relname IN (" + list + ")"
      " AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY n.nspname, c.relname");
  std::vector<ForeignLedger> out;
  for (const auto& row : r.rows) {
    std::vector<std::string> columns;
    std::stringstream in(row.at(3).text);
    for (std::string c; std::getline(in, c, ',');) columns.push_back(c);
    const auto* tool = tool_of_columns(columns);
    if (!tool) continue;
    ForeignLedger f;
    f.tool = tool;
    f.table = row.at(0).text + "." + row.at(1).text;
    const std::string quoted = conn.quote_name(row.at(0).text) + "." + conn.quote_name(row.at(1).text);
    f.rows = conn.query("SELECT count(*) FROM " + quoted).rows.at(0).at(0).integer;
    out.push_back(f);
  }
  return out;
}

std::string layout_of_ledger(const LedgerName& ledger) {
  const auto* t = ledger.tool.empty() ? nullptr : find_tool_ledger(ledger.tool);
  return t ? t->layout : "";
}

int index_by_version(const Chain& chain, const std::string& version) {
  for (std::size_t i = 0; i < chain.migrations.size(); ++i)
    if (!chain.migrations[i].repeatable && compare_versions(chain.migrations[i].version, version) == 0)
      return static_cast<int>(i);
  return -1;
}

std::vector<ToolRecord> read_version_set(db::Connection& conn, const std::string& table, const Chain& chain) {
  auto r = conn.query("SELECT version::text FROM " + quoted_table(conn, table) + " ORDER BY version");
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

std::vector<std::string> insert_version_sql(db::Connection& conn, const std::string& table, const Migration& m,
                                            const ToolWrite&) {
  return {"INSERT INTO " + quoted_table(conn, table) + " (version) VALUES (" + conn.quote(m.version) + ")"};
}

std::vector<std::string> delete_version_sql(db::Connection& conn, const std::string& table, const Migration& m,
                                            const ToolWrite&) {
  return {"DELETE FROM " + quoted_table(conn, table) + " WHERE version = " + conn.quote(m.version)};
}

int index_by_name(const Chain& chain, const std::string& name) {
  for (std::size_t i = 0; i < chain.migrations.size(); ++i)
    if (chain.migrations[i].name == name) return static_cast<int>(i);
  return -1;
}

std::string sql_text(db::Connection& conn, const std::string& text) { return conn.quote(text); }

std::string elapsed_sql(const ToolWrite& w, double unit_per_second) {
  std::ostringstream out;
  if (!w.timed_by_transaction) {
    out << static_cast<long long>(static_cast<double>(w.execution_ms) * unit_per_second / 1000.0);
    return out.str();
  }
  out << "(extract(epoch FROM clock_timestamp() - now()) * " << static_cast<long long>(unit_per_second) << ")::bigint";
  return out.str();
}

std::string quoted_table(db::Connection& conn, const std::string& qualified) {
  const auto dot = qualified.find('.');
  if (dot == std::string::npos) return conn.quote_name(qualified);
  return conn.quote_name(qualified.substr(0, dot)) + "." + conn.quote_name(qualified.substr(dot + 1));
}

}  // namespace rb::migrations
