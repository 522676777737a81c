#include "engine/sql.hpp"

#include "engine/run_stats.hpp"

#include <pg_query.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "engine/errors.hpp"

namespace rb::sql {

using nlohmann::json;

namespace {

// ---- Reading the JSON parse tree ---------------------------------------------------------------
// libpg_query omits fields that hold their default (false, 0, empty), so every accessor treats a
// missing field as that default.

const json& empty_object() {
  static const json e = json::object();
  return e;
}

const json& empty_array() {
  static const json e = json::array();
  return e;
}

const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

const json& object_at(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return v && v->is_object() ? *v : empty_object();
}

const json& array_at(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return v && v->is_array() ? *v : empty_array();
}

std::string str(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

bool flag(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return v && v->is_boolean() && v->get<bool>();
}

// A node is {"<Kind>": {...fields...}}.
std::string kind_of(const json& node) {
  return node.is_object() && node.size() == 1 ? node.begin().key() : std::string();
}

const json& body_of(const json& node) {
  return node.is_object() && node.size() == 1 && node.begin()->is_object() ? *node.begin()
                                                                           : empty_object();
}

// The body of `node` when it is a `kind` node, else an empty object.
const json& body_if(const json& node, const char* kind) {
  return kind_of(node) == kind ? body_of(node) : empty_object();
}

// The value of the boolean option `name` in a list of DefElem nodes, read the way PostgreSQL's
// defGetBoolean reads it; nullopt when the option is not given.
std::optional<bool> bool_option(const json& options, const char* name) {
  if (!options.is_array()) return std::nullopt;
  for (const auto& item : options) {
    const json& def = body_if(item, "DefElem");
    if (str(def, "defname") != name) continue;
    const json* arg = field(def, "arg");
    if (!arg) return true;  // "WITH (create_slot)" means true
    const std::string arg_kind = kind_of(*arg);
    const json& value = body_of(*arg);
    if (arg_kind == "Integer") {
      const json* ival = field(value, "ival");
      return ival && ival->is_number() && ival->get<long long>() != 0;
    }
    if (arg_kind == "Boolean") return flag(value, "boolval");
    std::string text = str(value, "sval");
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // PostgreSQL rejects anything but true/false/on/off; such a statement fails on the server
    // anyway, so the conservative answer (true) is as good as any.
    return !(text == "false" || text == "off");
  }
  return std::nullopt;
}

// ---- Source positions ------------------------------------------------------------------------

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Skips whitespace and comments (-- to end of line, nested /* */) in [pos, end).
std::size_t skip_blank(const std::string& s, std::size_t pos, std::size_t end) {
  while (pos < end) {
    if (is_space(s[pos])) {
      ++pos;
    } else if (s[pos] == '-' && pos + 1 < end && s[pos + 1] == '-') {
      // A -- comment ends at a newline, \n or \r (the server's and psql's lexers agree).
      std::size_t nl = s.find_first_of("\n\r", pos);
      pos = nl == std::string::npos || nl > end ? end : nl + 1;
    } else if (s[pos] == '/' && pos + 1 < end && s[pos + 1] == '*') {
      int depth = 1;
      pos += 2;
      while (pos < end && depth > 0) {
        if (s[pos] == '/' && pos + 1 < end && s[pos + 1] == '*') {
          ++depth;
          pos += 2;
        } else if (s[pos] == '*' && pos + 1 < end && s[pos + 1] == '/') {
          --depth;
          pos += 2;
        } else {
          ++pos;
        }
      }
    } else {
      break;
    }
  }
  return std::min(pos, end);
}

// Skips whitespace and -- comments only, as psql does before a statement starts.
std::size_t skip_space_and_line_comments(const std::string& s, std::size_t pos, std::size_t end) {
  while (pos < end) {
    if (is_space(s[pos])) {
      ++pos;
    } else if (s[pos] == '-' && pos + 1 < end && s[pos + 1] == '-') {
      // A -- comment ends at a newline, \n or \r (the server's and psql's lexers agree).
      std::size_t nl = s.find_first_of("\n\r", pos);
      pos = nl == std::string::npos || nl > end ? end : nl + 1;
    } else {
      break;
    }
  }
  return std::min(pos, end);
}

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// PostgreSQL reports an error position as a 1-based character (not byte) index.
std::size_t byte_of_cursor(const std::string& s, int cursorpos) {
  if (cursorpos <= 1) return 0;
  int chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!utf8_continuation(s[i]) && ++chars == cursorpos) return i;
  }
  return s.size();
}

// At most `max` bytes of `text`, cut on a character boundary, with "..." when cut.
std::string clip(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t cut = max;
  while (cut > 0 && utf8_continuation(text[cut])) --cut;
  return text.substr(0, cut) + "...";
}

std::string trim(const std::string& text) {
  std::size_t b = 0, e = text.size();
  while (b < e && is_space(text[b])) ++b;
  while (e > b && is_space(text[e - 1])) --e;
  return text.substr(b, e - b);
}

[[noreturn]] void throw_syntax_error(const std::string& sql, const std::string& filename,
                                     const PgQueryError& error) {
  std::size_t at = byte_of_cursor(sql, error.cursorpos);
  std::string near;
  std::size_t line_end = sql.find('\n', at);
  if (at < sql.size()) {
    near = trim(sql.substr(at, (line_end == std::string::npos ? sql.size() : line_end) - at));
  }
  if (near.empty()) {
    // At the end of the input (or of a line): show the end of the last line with text on it.
    std::size_t e = std::min(at, sql.size());
    while (e > 0 && is_space(sql[e - 1])) --e;
    std::size_t b = e == 0 ? 0 : sql.rfind('\n', e - 1);
    b = b == std::string::npos || e == 0 ? 0 : b + 1;
    at = e == 0 ? 0 : e - 1;
    std::string tail = trim(sql.substr(b, e - b));
    if (tail.size() > 40) {
      std::size_t from = tail.size() - 40;
      while (from < tail.size() && utf8_continuation(tail[from])) ++from;
      tail = "..." + tail.substr(from);
    }
    near = tail;
  }
  // PostgreSQL's message may quote the input, newlines included; keep the error on one line.
  std::string what = error.message ? error.message : "invalid SQL";
  for (char& c : what) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  what = trim(what);
  const std::string redundant = "syntax error ";
  if (what.rfind(redundant, 0) == 0) what.erase(0, redundant.size());
  if (near.rfind('\\', 0) == 0) {
    // psql runs backslash commands itself; the server never sees them.
    std::size_t end = 1;
    while (end < near.size() && !is_space(near[end])) ++end;
    throw rb::ConfigError(filename + ":" + std::to_string(line_of(sql, at)) + ": psql meta-command " +
                          near.substr(0, end) +
                          " is not SQL: runbook sends each statement to the server, which does not know psql's "
                          "backslash commands. Replace it with SQL (\\i: put the included statements in the file or "
                          "in their own migration; \\set: write the value in)");
  }
  throw rb::ConfigError(filename + ":" + std::to_string(line_of(sql, at)) + ": syntax error: " + what + " (near \"" +
                        clip(near, 40) + "\")");
}

// Frees a libpg_query result on every path.
struct ParseResult {
  PgQueryParseResult result;
  explicit ParseResult(const std::string& sql) : result(pg_query_parse(sql.c_str())) {}
  ~ParseResult() { pg_query_free_parse_result(result); }
  ParseResult(const ParseResult&) = delete;
  ParseResult& operator=(const ParseResult&) = delete;
};

// Offset of the first byte that is not part of a well-formed UTF-8 sequence, or npos.
std::size_t first_invalid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 99;
    if (n == 99 || (n == 1 && c < 0xC2) || i + n >= s.size() + (n ? 0 : 1)) return i;
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    i += n + 1;
  }
  return std::string::npos;
}

// ---- Transaction blocks ----------------------------------------------------------------------

// Why the statement cannot run inside a transaction block (PreventInTransactionBlock in the
// server), or "" when it can.
std::string no_transaction_reason(const std::string& kind, const json& b, int server_version_num) {
  if (kind == "IndexStmt" && flag(b, "concurrent")) return "CREATE INDEX CONCURRENTLY";
  if (kind == "DropStmt" && flag(b, "concurrent")) return "DROP INDEX CONCURRENTLY";
  if (kind == "ReindexStmt") {
    const std::string target = str(b, "kind");
    if (target == "REINDEX_OBJECT_SCHEMA") return "REINDEX SCHEMA";
    if (target == "REINDEX_OBJECT_DATABASE") return "REINDEX DATABASE";
    if (target == "REINDEX_OBJECT_SYSTEM") return "REINDEX SYSTEM";
    if (bool_option(array_at(b, "params"), "concurrently").value_or(false)) {
      return "REINDEX CONCURRENTLY";
    }
    return "";
  }
  // ANALYZE alone is a VacuumStmt too, and it may run in a transaction block.
  if (kind == "VacuumStmt" && flag(b, "is_vacuumcmd")) return "VACUUM";
  if (kind == "CreatedbStmt") return "CREATE DATABASE";
  if (kind == "DropdbStmt") return "DROP DATABASE";
  if (kind == "CreateTableSpaceStmt") return "CREATE TABLESPACE";
  if (kind == "DropTableSpaceStmt") return "DROP TABLESPACE";
  if (kind == "AlterSystemStmt") return "ALTER SYSTEM";
  if (kind == "CreateSubscriptionStmt") {
    // connect = false changes the default of create_slot to false.
    const json& options = array_at(b, "options");
    bool connect = bool_option(options, "connect").value_or(true);
    if (bool_option(options, "create_slot").value_or(connect)) {
      return "CREATE SUBSCRIPTION ... WITH (create_slot = true)";
    }
    return "";
  }
  // Whether the subscription has a slot is only known on the server: assume it has one.
  if (kind == "DropSubscriptionStmt") return "DROP SUBSCRIPTION";
  if (kind == "AlterSubscriptionStmt") {
    const std::string what = str(b, "kind");
    if (what == "ALTER_SUBSCRIPTION_REFRESH") return "ALTER SUBSCRIPTION ... REFRESH PUBLICATION";
    if ((what == "ALTER_SUBSCRIPTION_SET_PUBLICATION" ||
         what == "ALTER_SUBSCRIPTION_ADD_PUBLICATION" ||
         what == "ALTER_SUBSCRIPTION_DROP_PUBLICATION") &&
        bool_option(array_at(b, "options"), "refresh").value_or(true)) {
      return "ALTER SUBSCRIPTION ... PUBLICATION with refresh";
    }
    return "";
  }
  if (kind == "DiscardStmt" && str(b, "target") == "DISCARD_ALL") return "DISCARD ALL";
  // RENAME VALUE has oldVal; ADD VALUE does not.
  if (kind == "AlterEnumStmt" && !field(b, "oldVal") && server_version_num < 120000) {
    return "ALTER TYPE ... ADD VALUE (before PostgreSQL 12)";
  }
  if (kind == "AlterTableStmt") {
    for (const auto& item : array_at(b, "cmds")) {
      const json& cmd = body_if(item, "AlterTableCmd");
      if (str(cmd, "subtype") == "AT_DetachPartition" &&
          flag(body_if(object_at(cmd, "def"), "PartitionCmd"), "concurrent")) {
        return "ALTER TABLE ... DETACH PARTITION CONCURRENTLY";
      }
    }
    return "";
  }
  if (kind == "ClusterStmt" && !field(b, "relation")) return "CLUSTER without a table name";
  if (kind == "AlterDatabaseStmt") {
    for (const auto& item : array_at(b, "options")) {
      if (str(body_if(item, "DefElem"), "defname") == "tablespace") {
        return "ALTER DATABASE ... SET TABLESPACE";
      }
    }
    return "";
  }
  if (kind == "TransactionStmt") {
    const std::string what = str(b, "kind");
    if (what == "TRANS_STMT_COMMIT_PREPARED") return "COMMIT PREPARED";
    if (what == "TRANS_STMT_ROLLBACK_PREPARED") return "ROLLBACK PREPARED";
  }
  return "";
}

// BEGIN / START TRANSACTION open a block; COMMIT / END / ROLLBACK / ABORT / PREPARE TRANSACTION
// close one. SAVEPOINT and friends only make sense inside a block someone else opened.
bool opens_block(const std::string& what) {
  return what == "TRANS_STMT_BEGIN" || what == "TRANS_STMT_START";
}
bool closes_block(const std::string& what) {
  return what == "TRANS_STMT_COMMIT" || what == "TRANS_STMT_ROLLBACK" ||
         what == "TRANS_STMT_PREPARE";
}

}  // namespace

int line_of(const std::string& text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 +
         static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n'));
}

std::string position_in_file(const Statement& st, int position) {
  if (position <= 0) return "line " + std::to_string(st.line);
  const std::size_t at = std::min(byte_of_cursor(st.text, position), st.text.size());
  const std::size_t line_start = at == 0 ? 0 : st.text.rfind('\n', at - 1);
  const std::size_t from = line_start == std::string::npos || at == 0 ? 0 : line_start + 1;
  std::size_t column = 1;
  for (std::size_t i = from; i < at; ++i)
    if (!utf8_continuation(st.text[i])) ++column;
  const int line = st.text_line + static_cast<int>(std::count(st.text.begin(), st.text.begin() + static_cast<long>(at), '\n'));
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

Script analyze(const std::string& sql, const std::string& filename, int server_version_num) {
  ++run_stats().parses[filename];
  if (std::size_t nul = sql.find('\0'); nul != std::string::npos) {
    throw rb::ConfigError(filename + ":" + std::to_string(line_of(sql, nul)) +
                          ": the file contains a NUL byte; it is not SQL text");
  }
  if (std::size_t bad = first_invalid_utf8(sql); bad != std::string::npos) {
    throw rb::ConfigError(filename + ":" + std::to_string(line_of(sql, bad)) +
                          ": the file is not valid UTF-8 (byte " + std::to_string(bad + 1) +
                          "); save it as UTF-8, the encoding the server expects");
  }
  ParseResult parsed(sql);
  if (parsed.result.error) throw_syntax_error(sql, filename, *parsed.result.error);
  json tree;
  try {
    tree = json::parse(parsed.result.parse_tree ? parsed.result.parse_tree : "{}");
  } catch (const json::exception&) {
    // Byte sequences nlohmann rejects that the check above lets through (overlong forms,
    // surrogates): not text the server would take either.
    throw rb::ConfigError(filename + ": the file is not valid UTF-8; save it as UTF-8, the encoding the server expects");
  }

  Script script;
  for (const auto& raw : array_at(tree, "stmts")) {
    const json* loc = field(raw, "stmt_location");
    const json* len = field(raw, "stmt_len");
    std::size_t begin = loc ? loc->get<std::size_t>() : 0;
    std::size_t length = len ? len->get<std::size_t>() : 0;
    // stmt_len 0: the statement runs to the end of the input (no terminating semicolon).
    std::size_t end = length == 0 ? sql.size() : std::min(sql.size(), begin + length);
    // The text psql sends: leading whitespace and -- comments dropped (psql's lexer drops
    // them until the statement starts; block comments it keeps), through the terminating ";".
    begin = skip_space_and_line_comments(sql, std::min(begin, end), end);
    if (length != 0 && end < sql.size() && sql[end] == ';') {
      ++end;
    } else {
      while (end > begin && is_space(sql[end - 1])) --end;
    }

    Statement st;
    st.offset = begin;
    st.length = end - begin;
    st.text = sql.substr(begin, end - begin);
    st.line = line_of(sql, skip_blank(sql, begin, end));  // where its first token is
    st.text_line = line_of(sql, begin);
    st.node = field(raw, "stmt") ? raw.at("stmt") : json::object();
    st.kind = kind_of(st.node);
    const json& body = body_of(st.node);
    st.no_transaction_reason = no_transaction_reason(st.kind, body, server_version_num);
    if (st.kind == "TransactionStmt") {
      st.transaction_control = true;
      const std::string what = str(body, "kind");
      if (opens_block(what) || closes_block(what)) script.manages_own_transaction = true;
      st.opens_block = opens_block(what);
      st.closes_block = closes_block(what);
    }
    if (!st.no_transaction_reason.empty()) script.needs_no_transaction = true;
    if (st.kind == "CreateExtensionStmt") script.extensions_created.push_back(str(body, "extname"));
    script.statements.push_back(std::move(st));
  }
  return script;
}

// ---- Lint ------------------------------------------------------------------------------------

namespace {

struct TableName {
  std::string schema, name;
  std::string display() const { return schema.empty() ? name : schema + "." + name; }
};

TableName from_range_var(const json& rv) { return {str(rv, "schemaname"), str(rv, "relname")}; }

// A qualified name as a list of String nodes: [catalog.]schema.name
TableName from_name_list(const json& items) {
  std::vector<std::string> parts;
  for (const auto& item : items) parts.push_back(str(body_if(item, "String"), "sval"));
  TableName t;
  if (!parts.empty()) t.name = parts.back();
  if (parts.size() >= 2) t.schema = parts[parts.size() - 2];
  return t;
}

// Tables created earlier in the same run. An unqualified name on either side matches any schema:
// lint cannot know the search_path, and a false "new" only silences a warning about a table the
// file created itself under another spelling.
class NewTables {
 public:
  explicit NewTables(const std::vector<std::string>& names) {
    for (const auto& n : names) {
      std::size_t dot = n.rfind('.');
      if (dot == std::string::npos)
        tables_.push_back({"", n});
      else
        tables_.push_back({n.substr(0, dot), n.substr(dot + 1)});
    }
  }
  void add(const TableName& t) {
    if (!t.name.empty()) tables_.push_back(t);
  }
  bool contains(const TableName& t) const {
    return std::any_of(tables_.begin(), tables_.end(), [&](const TableName& n) {
      return n.name == t.name && (n.schema.empty() || t.schema.empty() || n.schema == t.schema);
    });
  }

 private:
  std::vector<TableName> tables_;
};

// DELETE and UPDATE anywhere in the statement (WITH clauses included), but not inside rule
// actions, which run once per affected row rather than over the whole table.
void find_writes(const json& node, std::vector<std::pair<std::string, const json*>>& out) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it.key() == "RuleStmt") continue;
      if ((it.key() == "DeleteStmt" || it.key() == "UpdateStmt") && it->is_object()) {
        out.emplace_back(it.key(), &*it);
      }
      find_writes(*it, out);
    }
  } else if (node.is_array()) {
    for (const auto& item : node) find_writes(item, out);
  }
}

bool is_serial(const json& column_def) {
  const json& names = array_at(object_at(column_def, "typeName"), "names");
  if (names.size() != 1) return false;
  const std::string t = str(body_if(names[0], "String"), "sval");
  return t == "serial" || t == "bigserial" || t == "smallserial" || t == "serial2" ||
         t == "serial4" || t == "serial8";
}

}  // namespace

std::vector<Finding> lint(const Script& script, const std::string& filename,
                          const LintContext& ctx) {
  std::vector<Finding> findings;
  NewTables created(ctx.new_tables);
  int block_line = 0;  // line of the BEGIN of the file's own open transaction block, 0 outside
  int blocks = 0;      // transaction blocks the file opens itself

  for (const auto& st : script.statements) {
    const json& b = body_of(st.node);
    auto add = [&](const char* rule, const char* severity, const std::string& message,
                   bool destructive) {
      findings.push_back(Finding{filename, st.line, rule, severity, message, destructive});
    };

    if (st.kind == "TransactionStmt") {
      const std::string what = str(b, "kind");
      if (opens_block(what) && block_line == 0) block_line = st.line;
      if (closes_block(what)) block_line = 0;
      if (opens_block(what) && ++blocks == 2)
        add("several-transactions", "warning",
            "the file commits more than one transaction of its own (a second BEGIN here): if a later one "
            "fails, the earlier ones stay committed and the migration is recorded dirty. One transaction "
            "per migration file is safer.",
            false);
    }
    if (!st.no_transaction_reason.empty() && block_line != 0) {
      add("concurrently-in-transaction", "error",
          st.no_transaction_reason +
              " cannot run inside a transaction block, and this file opens "
              "one with BEGIN at line " +
              std::to_string(block_line) +
              ": the statement will fail. Move it to its own migration without BEGIN/COMMIT.",
          false);
    }

    if (st.kind == "DropStmt") {
      const std::string type = str(b, "removeType");
      const bool cascade = str(b, "behavior") == "DROP_CASCADE";
      if (type == "OBJECT_TABLE") {
        std::string names;
        for (const auto& obj : array_at(b, "objects")) {
          TableName t = from_name_list(array_at(body_if(obj, "List"), "items"));
          if (created.contains(t)) continue;
          names += (names.empty() ? "" : ", ") + t.display();
        }
        if (!names.empty()) {
          add("drop-table", "warning",
              "DROP TABLE " + names + " deletes the table and all its rows" +
                  (cascade
                       ? ", and CASCADE also drops every view and foreign key that depends on it"
                       : "") +
                  "; once committed only a backup brings it back.",
              true);
        }
      } else if (type == "OBJECT_SCHEMA") {
        std::string names;
        for (const auto& obj : array_at(b, "objects")) {
          names += (names.empty() ? "" : ", ") + str(body_if(obj, "String"), "sval");
        }
        add("drop-schema", "warning",
            "DROP SCHEMA " + names +
                (cascade
                     ? " CASCADE deletes every table, with its rows, and every other object in it"
                     : " deletes the schema (it fails if anything is still in it, unless "
                       "CASCADE)") +
                "; once committed only a backup brings it back.",
            true);
      }
    }

    if (st.kind == "AlterTableStmt") {
      const TableName table = from_range_var(object_at(b, "relation"));
      const bool is_new = created.contains(table);
      for (const auto& item : array_at(b, "cmds")) {
        const json& cmd = body_if(item, "AlterTableCmd");
        const std::string subtype = str(cmd, "subtype");
        const json& def = object_at(cmd, "def");
        if (is_new) continue;
        if (subtype == "AT_DropColumn") {
          add("drop-column", "warning",
              "ALTER TABLE " + table.display() + " DROP COLUMN " + str(cmd, "name") +
                  " deletes the column's data for good, and code still reading the column breaks.",
              true);
        } else if (subtype == "AT_AlterColumnType") {
          add("alter-column-type", "warning",
              "ALTER TABLE " + table.display() + " ALTER COLUMN " + str(cmd, "name") +
                  " TYPE rewrites the whole table and rebuilds its indexes under an ACCESS "
                  "EXCLUSIVE lock (no reads, no writes) unless the new type is binary-compatible; "
                  "prefer a new column, a backfill in batches and a switch.",
              false);
        } else if (subtype == "AT_AddColumn") {
          const json& column = body_if(def, "ColumnDef");
          bool not_null = false, has_value = is_serial(column);
          for (const auto& c : array_at(column, "constraints")) {
            const std::string contype = str(body_if(c, "Constraint"), "contype");
            if (contype == "CONSTR_NOTNULL" || contype == "CONSTR_PRIMARY") not_null = true;
            if (contype == "CONSTR_DEFAULT" || contype == "CONSTR_IDENTITY" ||
                contype == "CONSTR_GENERATED") {
              has_value = true;
            }
          }
          if (not_null && !has_value) {
            add("add-column-not-null-without-default", "warning",
                "ALTER TABLE " + table.display() + " ADD COLUMN " + str(column, "colname") +
                    " NOT NULL without a DEFAULT fails as soon as the table has a row; add a "
                    "DEFAULT (a constant default is instant since PostgreSQL 11), or add the "
                    "column nullable, backfill, then SET NOT NULL.",
                false);
          }
        } else if (subtype == "AT_AddConstraint") {
          const json& constraint = body_if(def, "Constraint");
          const std::string contype = str(constraint, "contype");
          if ((contype == "CONSTR_FOREIGN" || contype == "CONSTR_CHECK") &&
              !flag(constraint, "skip_validation")) {
            const bool fk = contype == "CONSTR_FOREIGN";
            std::string what = fk ? "FOREIGN KEY" : "CHECK constraint";
            std::string locks =
                fk ? "a SHARE ROW EXCLUSIVE lock that blocks writes to " + table.display() +
                         " and to " + from_range_var(object_at(constraint, "pktable")).display()
                   : "an ACCESS EXCLUSIVE lock on " + table.display() + " (no reads, no writes)";
            add("add-foreign-key-or-check-without-not-valid", "warning",
                "ALTER TABLE " + table.display() + " ADD " + what +
                    " without NOT VALID checks every existing row while holding " + locks +
                    "; add it NOT VALID, then VALIDATE CONSTRAINT in a separate step (which "
                    "takes a weaker lock).",
                false);
          }
        }
      }
    }

    if (st.kind == "TruncateStmt") {
      std::string names;
      for (const auto& rel : array_at(b, "relations")) {
        TableName t = from_range_var(body_if(rel, "RangeVar"));
        if (created.contains(t)) continue;
        names += (names.empty() ? "" : ", ") + t.display();
      }
      if (!names.empty()) {
        add("truncate", "warning",
            "TRUNCATE " + names +
                " deletes every row (under an ACCESS EXCLUSIVE lock); once "
                "committed only a backup brings them back.",
            true);
      }
    }

    std::vector<std::pair<std::string, const json*>> writes;
    find_writes(st.node, writes);
    for (const auto& [write_kind, write] : writes) {
      if (field(*write, "whereClause")) continue;
      TableName t = from_range_var(object_at(*write, "relation"));
      if (created.contains(t)) continue;
      if (write_kind == "DeleteStmt") {
        add("delete-without-where", "warning",
            "DELETE FROM " + t.display() + " without WHERE deletes every row of the table.", true);
      } else {
        add("update-without-where", "warning",
            "UPDATE " + t.display() +
                " without WHERE overwrites every row of the table (and "
                "rewrites all of them, bloating it).",
            true);
      }
    }

    if (st.kind == "IndexStmt" && !flag(b, "concurrent")) {
      TableName t = from_range_var(object_at(b, "relation"));
      if (!created.contains(t)) {
        add("create-index-not-concurrently", "warning",
            "CREATE INDEX on the existing table " + t.display() +
                " without CONCURRENTLY blocks every write to it until the index is built; use "
                "CREATE INDEX CONCURRENTLY (it cannot run in a transaction block).",
            false);
      }
    }

    if (st.kind == "CreateExtensionStmt") {
      add("create-extension", "warning",
          "CREATE EXTENSION " + str(b, "extname") +
              " fails unless the server offers the extension (pg_available_extensions) and the "
              "role may create it.",
          false);
    }

    // Tables this statement creates are new for the statements after it.
    if (st.kind == "CreateStmt" && !flag(b, "if_not_exists")) {
      created.add(from_range_var(object_at(b, "relation")));
    } else if (st.kind == "CreateTableAsStmt" && !flag(b, "if_not_exists")) {
      created.add(from_range_var(object_at(object_at(b, "into"), "rel")));
    } else if (st.kind == "SelectStmt") {
      const json* into = field(b, "intoClause");
      if (into) created.add(from_range_var(object_at(*into, "rel")));
    }
  }
  return findings;
}

}  // namespace rb::sql
