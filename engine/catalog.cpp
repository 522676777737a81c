#include "engine/catalog.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "engine/errors.hpp"

namespace rb::catalog {

namespace {

// The schemas a snapshot leaves out: the system's own and every session's temporary ones.
// `ns` is the alias of pg_namespace in the query.
std::string user_schemas(const std::string& ns) {
  return ns + ".nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND " + ns +
         ".nspname NOT LIKE 'pg\\_temp\\_%' AND " + ns + ".nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";
}

std::string text(const db::Cell& c) {
  switch (c.type) {
    case db::CellType::null: return "";
    case db::CellType::boolean: return c.boolean ? "true" : "false";
    case db::CellType::integer: return std::to_string(c.integer);
    case db::CellType::number: return std::to_string(c.number);
    default: return c.text;
  }
}
std::optional<std::string> opt_text(const db::Cell& c) {
  if (c.type == db::CellType::null) return std::nullopt;
  return text(c);
}
bool boolean(const db::Cell& c) { return c.type == db::CellType::boolean ? c.boolean : text(c) == "t"; }
double number(const db::Cell& c) {
  if (c.type == db::CellType::number) return c.number;
  if (c.type == db::CellType::integer) return static_cast<double>(c.integer);
  return c.type == db::CellType::null ? 0 : std::stod(c.text);
}
long long integer(const db::Cell& c) { return static_cast<long long>(number(c)); }

// search_path = pg_catalog for the duration of a snapshot: types and expressions then read
// schema-qualified whatever the session's path. Restored on the way out; a session that cannot
// be restored (it failed) is the caller's to handle.
class CatalogPath {
 public:
  explicit CatalogPath(db::Connection& c) : conn_(c) {
    saved_ = text(conn_.query("SELECT current_setting('search_path')").rows.at(0).at(0));
    conn_.query("SELECT set_config('search_path', 'pg_catalog', false)");
  }
  ~CatalogPath() {
    try {
      conn_.query("SELECT set_config('search_path', $1, false)", {saved_});
    } catch (const std::exception&) {
      // The session failed meanwhile; whatever the caller does next, it learns that itself.
    }
  }
  CatalogPath(const CatalogPath&) = delete;
  CatalogPath& operator=(const CatalogPath&) = delete;

 private:
  db::Connection& conn_;
  std::string saved_;
};

const char* constraint_type(const std::string& contype) {
  if (contype == "p") return "primary key";
  if (contype == "u") return "unique";
  if (contype == "f") return "foreign key";
  if (contype == "c") return "check";
  if (contype == "x") return "exclusion";
  if (contype == "t") return "trigger";
  if (contype == "n") return "not null";
  return "other";
}

// A JSON array (or an empty object, what an empty Lua table encodes as) of objects.
const nlohmann::json& list_of(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  if (!j.contains(key) || j[key].is_null()) return kEmpty;
  const auto& v = j[key];
  if (v.is_array()) return v;
  if (v.is_object() && v.empty()) return kEmpty;
  throw ConfigError(std::string("expected schema: '") + key + "' must be a list");
}
std::string str(const nlohmann::json& o, const char* key, const char* what) {
  if (!o.is_object() || !o.contains(key) || !o[key].is_string())
    throw ConfigError(std::string("expected schema: a ") + what + " without a '" + key + "' string");
  return o[key].get<std::string>();
}
bool flag(const nlohmann::json& o, const char* key, bool fallback) {
  return o.contains(key) && o[key].is_boolean() ? o[key].get<bool>() : fallback;
}

std::string or_none(const std::optional<std::string>& s) { return s ? *s : "none"; }

}  // namespace

Snapshot snapshot(db::Connection& conn) {
  CatalogPath path(conn);
  Snapshot s;
  s.database = text(conn.query("SELECT current_database()").rows.at(0).at(0));
  s.server_version = conn.server_version();

  const auto cols = conn.query(
      "SELECT n.nspname || '.' || c.relname, c.relkind::text, a.attname, format_type(a.atttypid, a.atttypmod), "
      "a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
      "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
      "WHERE c.relkind IN ('r', 'p') AND " + user_schemas("n") + " ORDER BY c.oid, a.attnum");
  std::map<std::string, Table> tables;
  for (const auto& r : cols.rows) {
    Table& t = tables[text(r[0])];
    t.name = text(r[0]);
    t.kind = text(r[1]) == "p" ? "partitioned table" : "table";
    if (r[2].type == db::CellType::null) continue;  // a table without columns
    Column c;
    c.name = text(r[2]);
    c.type = text(r[3]);
    c.not_null = boolean(r[4]);
    const std::string identity = text(r[6]), generated = text(r[7]);
    if (identity == "a") c.default_ = "GENERATED ALWAYS AS IDENTITY";
    else if (identity == "d") c.default_ = "GENERATED BY DEFAULT AS IDENTITY";
    else if (generated == "s") c.default_ = "GENERATED ALWAYS AS (" + text(r[5]) + ") STORED";
    else c.default_ = opt_text(r[5]);
    t.columns.push_back(std::move(c));
  }
  for (auto& [_, t] : tables) s.tables.push_back(std::move(t));

  const auto idx = conn.query(
      "SELECT ni.nspname || '.' || ci.relname, n.nspname || '.' || c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid "
      "FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace ni ON ni.oid = ci.relnamespace "
      "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE " + user_schemas("ni"));
  for (const auto& r : idx.rows) s.indexes.push_back({text(r[0]), text(r[1]), text(r[2]), boolean(r[3])});
  std::sort(s.indexes.begin(), s.indexes.end(), [](const Index& a, const Index& b) { return a.name < b.name; });

  // NOT NULL constraints (PostgreSQL 18 keeps them in pg_constraint) are the columns' not_null.
  const auto cons = conn.query(
      "SELECT con.conname, n.nspname || '.' || c.relname, con.contype::text, pg_get_constraintdef(con.oid), con.convalidated "
      "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE con.contype <> 'n' AND " + user_schemas("n"));
  for (const auto& r : cons.rows) {
    Constraint c{text(r[0]), text(r[1]), constraint_type(text(r[2])), text(r[3]), boolean(r[4])};
    // pg_get_constraintdef says " NOT VALID" too: `validated` alone carries it, so a constraint
    // that is only NOT VALID is one difference, not two.
    const std::string suffix = " NOT VALID";
    if (!c.validated && c.definition.size() > suffix.size() &&
        c.definition.compare(c.definition.size() - suffix.size(), suffix.size(), suffix) == 0)
      c.definition.resize(c.definition.size() - suffix.size());
    s.constraints.push_back(std::move(c));
  }
  std::sort(s.constraints.begin(), s.constraints.end(), [](const Constraint& a, const Constraint& b) {
    return a.table != b.table ? a.table < b.table : a.name < b.name;
  });
  return s;
}

nlohmann::json to_json(const Snapshot& s) {
  nlohmann::json j = {{"database", s.database}, {"server_version", s.server_version}};
  auto& tables = j["tables"] = nlohmann::json::array();
  for (const auto& t : s.tables) {
    nlohmann::json cols = nlohmann::json::array();
    for (const auto& c : t.columns) {
      nlohmann::json col = {{"name", c.name}, {"type", c.type}, {"not_null", c.not_null}};
      if (c.default_) col["default"] = *c.default_;
      cols.push_back(std::move(col));
    }
    tables.push_back({{"name", t.name}, {"kind", t.kind}, {"columns", std::move(cols)}});
  }
  auto& indexes = j["indexes"] = nlohmann::json::array();
  for (const auto& i : s.indexes)
    indexes.push_back({{"name", i.name}, {"table", i.table}, {"definition", i.definition}, {"valid", i.valid}});
  auto& cons = j["constraints"] = nlohmann::json::array();
  for (const auto& c : s.constraints)
    cons.push_back({{"name", c.name}, {"table", c.table}, {"type", c.type}, {"definition", c.definition},
                    {"validated", c.validated}});
  return j;
}

Snapshot from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw ConfigError("expected schema: not an object (a snapshot from catalog.snapshot)");
  Snapshot s;
  if (j.contains("database") && j["database"].is_string()) s.database = j["database"].get<std::string>();
  if (j.contains("server_version") && j["server_version"].is_number()) s.server_version = j["server_version"].get<int>();
  for (const auto& t : list_of(j, "tables")) {
    Table table{str(t, "name", "table"), t.contains("kind") && t["kind"].is_string() ? t["kind"].get<std::string>() : "table", {}};
    for (const auto& c : list_of(t, "columns")) {
      Column col{str(c, "name", "column"), str(c, "type", "column"), flag(c, "not_null", false), std::nullopt};
      if (c.contains("default") && c["default"].is_string()) col.default_ = c["default"].get<std::string>();
      table.columns.push_back(std::move(col));
    }
    s.tables.push_back(std::move(table));
  }
  for (const auto& i : list_of(j, "indexes"))
    s.indexes.push_back({str(i, "name", "index"), str(i, "table", "index"), str(i, "definition", "index"), flag(i, "valid", true)});
  for (const auto& c : list_of(j, "constraints"))
    s.constraints.push_back({str(c, "name", "constraint"), str(c, "table", "constraint"),
                             c.contains("type") && c["type"].is_string() ? c["type"].get<std::string>() : "",
                             str(c, "definition", "constraint"), flag(c, "validated", true)});
  return s;
}

std::vector<std::string> diff(const Snapshot& expected, const Snapshot& actual) {
  std::vector<std::string> out;
  std::map<std::string, const Table*> et, at;
  for (const auto& t : expected.tables) et[t.name] = &t;
  for (const auto& t : actual.tables) at[t.name] = &t;
  std::set<std::string> table_names;
  for (const auto& [n, _] : et) table_names.insert(n);
  for (const auto& [n, _] : at) table_names.insert(n);
  std::set<std::string> gone;  // tables missing or unexpected: their objects are not listed

  auto count_of = [](const Snapshot& s, const std::string& table) {
    std::size_t idx = 0, con = 0;
    for (const auto& i : s.indexes) idx += i.table == table;
    for (const auto& c : s.constraints) con += c.table == table;
    return std::make_pair(idx, con);
  };
  auto with_objects = [&](const Snapshot& s, const Table& t) {
    const auto [idx, con] = count_of(s, t.name);
    return " (" + std::to_string(t.columns.size()) + " column(s), " + std::to_string(idx) + " index(es), " +
           std::to_string(con) + " constraint(s))";
  };

  for (const auto& name : table_names) {
    const auto e = et.find(name), a = at.find(name);
    if (a == at.end()) {
      out.push_back("table " + name + " is missing" + with_objects(expected, *e->second));
      gone.insert(name);
      continue;
    }
    if (e == et.end()) {
      out.push_back("table " + name + " is unexpected" + with_objects(actual, *a->second));
      gone.insert(name);
      continue;
    }
    const Table& te = *e->second;
    const Table& ta = *a->second;
    if (te.kind != ta.kind) out.push_back("table " + name + ": " + te.kind + " expected, " + ta.kind + " found");
    std::map<std::string, const Column*> ac;
    for (const auto& c : ta.columns) ac[c.name] = &c;
    std::set<std::string> seen;
    for (const auto& ce : te.columns) {
      seen.insert(ce.name);
      const std::string col = name + "." + ce.name;
      const auto it = ac.find(ce.name);
      if (it == ac.end()) {
        out.push_back("column " + col + " is missing");
        continue;
      }
      const Column& ca = *it->second;
      if (ce.type != ca.type) out.push_back("column " + col + ": type " + ce.type + " expected, " + ca.type + " found");
      if (ce.not_null && !ca.not_null) out.push_back("NOT NULL of " + col + " expected, absent");
      if (!ce.not_null && ca.not_null) out.push_back("NOT NULL of " + col + " not expected, present");
      if (ce.default_ != ca.default_)
        out.push_back("default of " + col + ": " + or_none(ce.default_) + " expected, " + or_none(ca.default_) + " found");
    }
    for (const auto& ca : ta.columns)
      if (!seen.count(ca.name)) out.push_back("column " + name + "." + ca.name + " is unexpected");
  }

  std::map<std::string, const Index*> ei, ai;
  for (const auto& i : expected.indexes) ei[i.name] = &i;
  for (const auto& i : actual.indexes) ai[i.name] = &i;
  std::set<std::string> index_names;
  for (const auto& [n, _] : ei) index_names.insert(n);
  for (const auto& [n, _] : ai) index_names.insert(n);
  for (const auto& name : index_names) {
    const auto e = ei.find(name), a = ai.find(name);
    if (a == ai.end()) {
      if (!gone.count(e->second->table)) out.push_back("index " + name + " is missing (" + e->second->definition + ")");
      continue;
    }
    if (e == ei.end()) {
      if (!gone.count(a->second->table))
        out.push_back("index " + name + " is unexpected (" + a->second->definition + ")" + (a->second->valid ? "" : " and INVALID"));
      continue;
    }
    if (e->second->definition != a->second->definition)
      out.push_back("index " + name + ": " + e->second->definition + " expected, " + a->second->definition + " found");
    if (e->second->valid && !a->second->valid) out.push_back("index " + name + " is INVALID");
  }

  using Key = std::pair<std::string, std::string>;  // table, name
  std::map<Key, const Constraint*> ec, ac;
  for (const auto& c : expected.constraints) ec[{c.table, c.name}] = &c;
  for (const auto& c : actual.constraints) ac[{c.table, c.name}] = &c;
  std::set<Key> con_keys;
  for (const auto& [k, _] : ec) con_keys.insert(k);
  for (const auto& [k, _] : ac) con_keys.insert(k);
  for (const auto& key : con_keys) {
    if (gone.count(key.first)) continue;
    const std::string what = "constraint " + key.second + " on " + key.first;
    const auto e = ec.find(key), a = ac.find(key);
    if (a == ac.end()) {
      out.push_back(what + " is missing (" + e->second->definition + ")");
      continue;
    }
    if (e == ec.end()) {
      out.push_back(what + " is unexpected (" + a->second->definition + ")");
      continue;
    }
    if (e->second->definition != a->second->definition)
      out.push_back(what + ": " + e->second->definition + " expected, " + a->second->definition + " found");
    if (e->second->validated && !a->second->validated) out.push_back(what + " is NOT VALID (expected validated)");
  }
  return out;
}

std::vector<Orphans> fk_orphans(db::Connection& conn, long long sample_limit) {
  if (sample_limit < 1) sample_limit = 1;
  const auto fks = conn.query(
      "SELECT con.conname, n.nspname, c.relname, pn.nspname, pc.relname, con.convalidated, c.reltuples::float8, "
      "c.relkind::text, "
      "(SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord) "
      "  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum), "
      "(SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord) "
      "  JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) "
      "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace "
      "WHERE con.contype = 'f' AND con.conparentid = 0 AND " + user_schemas("n"));
  std::vector<Orphans> out;
  for (const auto& r : fks.rows) {
    Orphans o;
    o.constraint = text(r[0]);
    o.table = text(r[1]) + "." + text(r[2]);
    o.parent = text(r[3]) + "." + text(r[4]);
    o.validated = boolean(r[5]);
    const double reltuples = number(r[6]);
    const bool partitioned = text(r[7]) == "p";
    const auto child_cols = nlohmann::json::parse(text(r[8]));
    const auto parent_cols = nlohmann::json::parse(text(r[9]));
    for (const auto& c : child_cols) o.columns.push_back(c.get<std::string>());
    if (o.columns.empty() || parent_cols.size() != o.columns.size()) continue;

    const bool sample = reltuples > static_cast<double>(sample_limit);
    std::string keys, not_null, join, example;
    for (std::size_t i = 0; i < o.columns.size(); ++i) {
      const std::string k = "k" + std::to_string(i + 1);
      const std::string col = conn.quote_name(o.columns[i]);
      keys += (i ? ", c." : "c.") + col + " AS " + k;
      not_null += (i ? " AND c." : "c.") + col + " IS NOT NULL";
      join += (i ? " AND p." : "p.") + conn.quote_name(parent_cols[i].get<std::string>()) + " = s." + k;
      example += (i ? ", s." : "s.") + k + "::text";
    }
    std::string from = std::string(partitioned ? "" : "ONLY ") + conn.quote_name(text(r[1])) + "." + conn.quote_name(text(r[2])) + " c";
    if (sample) {
      char pct[64];
      std::snprintf(pct, sizeof pct, "%.6f", std::max(0.000001, std::min(100.0, 100.0 * sample_limit / reltuples)));
      from += std::string(" TABLESAMPLE SYSTEM (") + pct + ")";
    }
    // Unsampled, one row over the limit tells a table that grew past its estimate.
    const long long limit = sample ? sample_limit : sample_limit + 1;
    const std::string sql =
        "WITH s AS (SELECT " + keys + " FROM " + from + " WHERE " + not_null + " LIMIT " + std::to_string(limit) +
        "), o AS (SELECT * FROM s WHERE NOT EXISTS (SELECT 1 FROM " + conn.quote_name(text(r[3])) + "." +
        conn.quote_name(text(r[4])) + " p WHERE " + join + ")) "
        "SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM o), (SELECT json_build_array(" + example + ") FROM o s LIMIT 1)";
    const auto res = conn.query(sql);
    const auto& row = res.rows.at(0);
    o.checked = integer(row[0]);
    o.orphans = integer(row[1]);
    o.sampled = sample || o.checked > sample_limit;
    if (o.checked > sample_limit) o.checked = sample_limit;
    if (row[2].type != db::CellType::null) {
      std::string names, values;
      std::size_t i = 0;
      for (const auto& v : nlohmann::json::parse(text(row[2]))) {
        names += (i ? ", " : "") + o.columns[i];
        values += (i ? ", " : "") + (v.is_string() ? v.get<std::string>() : v.dump());
        ++i;
      }
      o.example = "(" + names + ")=(" + values + ")";
    }
    out.push_back(std::move(o));
  }
  std::sort(out.begin(), out.end(), [](const Orphans& a, const Orphans& b) {
    return a.table != b.table ? a.table < b.table : a.constraint < b.constraint;
  });
  return out;
}

std::vector<Constraint> not_valid_constraints(db::Connection& conn) {
  CatalogPath path(conn);
  const auto r = conn.query(
      "SELECT con.conname, n.nspname || '.' || c.relname, con.contype::text, pg_get_constraintdef(con.oid), con.convalidated "
      "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE NOT con.convalidated AND " + user_schemas("n"));
  std::vector<Constraint> out;
  for (const auto& row : r.rows)
    out.push_back({text(row[0]), text(row[1]), constraint_type(text(row[2])), text(row[3]), false});
  std::sort(out.begin(), out.end(), [](const Constraint& a, const Constraint& b) {
    return a.table != b.table ? a.table < b.table : a.name < b.name;
  });
  return out;
}

}  // namespace rb::catalog
