#include "engine/sql.hpp"
#include "engine/utf8.hpp"

#include "engine/run_stats.hpp"

#include <pg_query.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

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


// ---- Reading libpg_query's JSON output without building it whole ----------------------------
// The tree of a data file (500,000 INSERTs) is hundreds of megabytes of JSON and gigabytes as a
// DOM. Analysis walks the text instead, statement by statement, and builds a DOM only for the
// statements whose insides analysis or lint read (see needs_tree).

// Skips the JSON string starting at p (at its opening quote); returns the position after it.
const char* skip_json_string(const char* p, const char* end) {
  for (++p; p < end; ++p) {
    if (*p == '\\') {
      ++p;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return end;
}

// Skips one JSON value starting at p (no leading whitespace: libpg_query writes none).
const char* skip_json_value(const char* p, const char* end) {
  if (p >= end) return end;
  if (*p == '"') return skip_json_string(p, end);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < end) {
      const char c = *p;
      if (c == '"') {
        p = skip_json_string(p, end);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return p + 1;
      }
      ++p;
    }
    return end;
  }
  while (p < end && *p != ',' && *p != '}' && *p != ']') ++p;  // number, true, false, null
  return p;
}

const char* skip_ws(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  return p;
}

// One element of "stmts" as text: {"stmt":{"<Kind>":{...}},"stmt_location":N,"stmt_len":N}.
struct RawStatement {
  std::string kind;
  const char* stmt = nullptr;  // the text of the "stmt" value (the node), or null
  const char* stmt_end = nullptr;
  std::size_t location = 0, length = 0;
};

std::size_t json_size_t(const char* p, const char* end) {
  std::size_t v = 0;
  for (; p < end && *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<std::size_t>(*p - '0');
  return v;
}

// Reads the keys of the element at p ("{"); returns the position after it.
const char* read_raw_statement(const char* p, const char* end, RawStatement& out) {
  if (p >= end || *p != '{') throw std::runtime_error("unexpected parse tree");
  ++p;
  while (true) {
    p = skip_ws(p, end);
    if (p >= end) throw std::runtime_error("unexpected end of the parse tree");
    if (*p == '}') return p + 1;
    if (*p == ',') {
      ++p;
      continue;
    }
    if (*p != '"') throw std::runtime_error("unexpected parse tree");
    const char* key = p + 1;
    p = skip_json_string(p, end);
    const std::string name(key, static_cast<std::size_t>(p - 1 - key));
    p = skip_ws(p, end);
    if (p >= end || *p != ':') throw std::runtime_error("unexpected parse tree");
    p = skip_ws(p + 1, end);
    const char* value = p;
    p = skip_json_value(p, end);
    if (name == "stmt") {
      out.stmt = value;
      out.stmt_end = p;
      // {"<Kind>": ...}: the first key.
      const char* k = skip_ws(value + 1, p);
      if (*value == '{' && k < p && *k == '"') {
        const char* after = skip_json_string(k, p);
        out.kind.assign(k + 1, static_cast<std::size_t>(after - 1 - (k + 1)));
      }
    } else if (name == "stmt_location") {
      out.location = json_size_t(value, p);
    } else if (name == "stmt_len") {
      out.length = json_size_t(value, p);
    }
  }
}

bool contains(const char* b, const char* e, const char* needle) {
  const std::size_t n = std::char_traits<char>::length(needle);
  return std::search(b, e, needle, needle + n) != e;
}

// Whether analysis or lint read inside a statement of this kind: no_transaction_reason,
// transaction control, CREATE EXTENSION, and lint's rules. Any statement with a DELETE or
// UPDATE inside (a data-modifying WITH) is read too, for delete/update-without-where.
// The others (INSERT, COMMENT, GRANT, CREATE FUNCTION, ...) keep only their kind.
bool needs_tree(const RawStatement& raw) {
  static const std::unordered_set<std::string> kinds{
      "IndexStmt",         "DropStmt",          "ReindexStmt",           "VacuumStmt",
      "CreateSubscriptionStmt", "AlterSubscriptionStmt", "DiscardStmt",   "AlterEnumStmt",
      "AlterTableStmt",    "ClusterStmt",       "AlterDatabaseStmt",     "TransactionStmt",
      "CreateExtensionStmt", "TruncateStmt",    "CreateStmt",            "CreateTableAsStmt",
      "SelectStmt",        "DeleteStmt",        "UpdateStmt"};
  if (kinds.count(raw.kind)) return true;
  return contains(raw.stmt, raw.stmt_end, "\"DeleteStmt\":") ||
         contains(raw.stmt, raw.stmt_end, "\"UpdateStmt\":");
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

// 1-based line numbers of increasing offsets in one text, counted incrementally: each call
// counts only the newlines between the previous offset and this one (backwards when an offset
// goes back, which the parse tree's statement order never asks for).
class LineCursor {
 public:
  explicit LineCursor(const std::string& text) : text_(&text) {}
  int line_at(std::size_t offset) {
    offset = std::min(offset, text_->size());
    const char* base = text_->data();
    if (offset >= pos_) {
      line_ += static_cast<int>(std::count(base + pos_, base + offset, '\n'));
    } else {
      line_ -= static_cast<int>(std::count(base + offset, base + pos_, '\n'));
    }
    pos_ = offset;
    return line_;
  }

 private:
  const std::string* text_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

int line_of(const std::string& text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 +
         static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n'));
}

int line_in_file(const Statement& st, int position) {
  if (position <= 0) return st.line;
  const std::size_t at = std::min(byte_of_cursor(st.text, position), st.text.size());
  return st.text_line + static_cast<int>(std::count(st.text.begin(), st.text.begin() + static_cast<long>(at), '\n'));
}

std::string position_in_file(const Statement& st, int position) {
  if (position <= 0) return "line " + std::to_string(st.line);
  const std::size_t at = std::min(byte_of_cursor(st.text, position), st.text.size());
  const std::size_t line_start = at == 0 ? 0 : st.text.rfind('\n', at - 1);
  const std::size_t from = line_start == std::string::npos || at == 0 ? 0 : line_start + 1;
  std::size_t column = 1;
  for (std::size_t i = from; i < at; ++i)
    if (!utf8_continuation(st.text[i])) ++column;
  return "line " + std::to_string(line_in_file(st, position)) + ", column " + std::to_string(column);
}

Script analyze(const std::string& sql, const std::string& filename, int server_version_num) {
  ++run_stats().parses[filename];
  if (std::size_t nul = sql.find('\0'); nul != std::string::npos) {
    throw rb::ConfigError(filename + ":" + std::to_string(line_of(sql, nul)) +
                          ": the file contains a NUL byte; it is not SQL text");
  }
  if (std::size_t bad = utf8::first_invalid(sql); bad != std::string::npos) {
    throw rb::ConfigError(filename + ":" + std::to_string(line_of(sql, bad)) +
                          ": the file is not valid UTF-8 (byte " + std::to_string(bad + 1) +
                          "); save it as UTF-8, the encoding the server expects");
  }
  Script script;
  // Statements come in file order: lines are counted forward from the previous statement's
  // position, so the whole file is scanned once however many statements it has.
  LineCursor lines(sql);
  // The statements of libpg_query's output for the part of `sql` that starts at `base`.
  auto add_statements = [&](const char* json_text, std::size_t base) {
    const char* json_end = json_text + std::char_traits<char>::length(json_text);
    // {"version":N,"stmts":[...]}: the statements' array, element by element.
    static const char stmts_key[] = "\"stmts\":[";
    const char* p = std::search(json_text, json_end, stmts_key, stmts_key + sizeof stmts_key - 1);
    p = p == json_end ? json_end : p + sizeof stmts_key - 1;
    while (true) {
      p = skip_ws(p, json_end);
      if (p < json_end && *p == ',') p = skip_ws(p + 1, json_end);
      if (p >= json_end || *p != '{') break;
      RawStatement raw;
      p = read_raw_statement(p, json_end, raw);
      std::size_t begin = base + raw.location;
      std::size_t length = raw.length;
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
      st.text_line = lines.line_at(begin);
      st.line = lines.line_at(skip_blank(sql, begin, end));  // where its first token is
      if (!raw.stmt) {
        st.node = json::object();
      } else if (needs_tree(raw)) {
        try {
          st.node = json::parse(raw.stmt, raw.stmt_end);
        } catch (const json::exception&) {
          // Checked above; a backstop for anything nlohmann still rejects.
          throw rb::ConfigError(filename + ":" + std::to_string(st.line) +
                                ": the file is not valid UTF-8; save it as UTF-8, the encoding the server expects");
        }
      } else {
        st.node = json::object({{raw.kind, json::object()}});
      }
      st.kind = raw.kind;
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
  };

  // A big file is parsed in pieces of about kPiece bytes, cut after a ";" the scanner finds: the
  // parse tree of the whole of a 50 MB data load would take gigabytes at once. The scanner also
  // cuts inside BEGIN ATOMIC ... END, where no piece parses (its statement is unterminated): a
  // piece that fails is parsed again together with the next one. When that fails too (a syntax
  // error) the whole file is parsed at once, as a small file is, and its error is reported.
  constexpr std::size_t kPiece = 1 << 20;
  std::vector<std::size_t> cuts;  // where each piece but the first starts
  if (sql.size() > 2 * kPiece) {
    PgQuerySplitResult split = pg_query_split_with_scanner(sql.c_str());
    if (!split.error) {
      std::size_t from = 0;
      for (int k = 0; k < split.n_stmts; ++k) {
        const auto at = static_cast<std::size_t>(split.stmts[k]->stmt_location) +
                        static_cast<std::size_t>(split.stmts[k]->stmt_len);
        if (at < sql.size() && sql[at] == ';' && at + 1 - from >= kPiece && sql.size() - (at + 1) >= kPiece / 2) {
          cuts.push_back(at + 1);
          from = at + 1;
        }
      }
    }
    pg_query_free_split_result(split);
  }
  bool pieces_parsed = false;
  if (!cuts.empty()) {
    pieces_parsed = true;
    std::size_t from = 0;
    for (std::size_t k = 0; k <= cuts.size();) {
      std::size_t next = k;  // the piece ends at cuts[next], or at the end of the file
      bool ok = false;
      for (int attempt = 0; attempt < 2 && next <= cuts.size(); ++attempt, ++next) {
        const std::size_t to = next == cuts.size() ? sql.size() : cuts[next];
        ParseResult piece(sql.substr(from, to - from));
        if (piece.result.error) continue;
        add_statements(piece.result.parse_tree ? piece.result.parse_tree : "{}", from);
        from = to;
        ok = true;
        break;
      }
      if (!ok) {
        pieces_parsed = false;
        break;
      }
      k = next + 1;
    }
    if (!pieces_parsed) {
      script = Script{};
      lines = LineCursor(sql);
    }
  }
  if (!pieces_parsed) {
    ParseResult parsed(sql);
    if (parsed.result.error) throw_syntax_error(sql, filename, *parsed.result.error);
    add_statements(parsed.result.parse_tree ? parsed.result.parse_tree : "{}", 0);
  }
  return script;
}

// ---- Review excerpts -----------------------------------------------------------------------

Excerpt review_excerpt(const std::string& sql, const ExcerptLimits& limits) {
  Excerpt e;
  const std::size_t max_bytes = std::max<std::size_t>(limits.max_bytes, 1);
  const std::size_t max_lines = std::max<std::size_t>(limits.max_lines, 1);
  // The end of the max_lines-th line, or of the last whole line within max_bytes.
  std::size_t cut = 0, lines = 0, pos = 0;
  while (lines < max_lines) {
    const std::size_t nl = sql.find('\n', pos);
    const std::size_t line_end = nl == std::string::npos ? sql.size() : nl + 1;
    if (line_end > max_bytes) break;
    cut = line_end;
    ++lines;
    if (nl == std::string::npos) break;
    pos = line_end;
  }
  if (cut >= sql.size()) {
    e.text = sql;
    return e;
  }
  if (cut == 0) {
    // The first line alone is too long: cut it, on a character boundary.
    cut = std::min(max_bytes, sql.size());
    while (cut > 0 && utf8_continuation(sql[cut])) --cut;
  }
  e.text = sql.substr(0, cut);
  e.cut = true;
  e.bytes_left = sql.size() - cut;
  e.lines_left = static_cast<std::size_t>(std::count(sql.begin() + static_cast<long>(cut), sql.end(), '\n'));
  if (sql.back() != '\n') ++e.lines_left;
  return e;
}

namespace {

// 1234567 -> "1,234,567"
std::string grouped(std::size_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string byte_size(std::size_t n) {
  char buf[32];
  if (n >= 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1024.0 * 1024.0));
  else if (n >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%zu bytes", n);
  return buf;
}

}  // namespace

std::string excerpt_note(const Excerpt& e, std::size_t statements_left, std::size_t statements,
                         const std::string& path) {
  std::string note = "-- ... " + grouped(e.lines_left) + (e.lines_left == 1 ? " more line (" : " more lines (") +
                     byte_size(e.bytes_left) + ") not shown, ";
  if (statements_left != std::string::npos)
    note += grouped(statements_left) + " of " + grouped(statements) + (statements == 1 ? " statement" : " statements");
  else
    note += "the file has " + grouped(statements) + (statements == 1 ? " statement" : " statements");
  return note + "; the whole file: " + path + ", or run with -v";
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
// Kept by name (a hash lookup, not a scan: a file may create thousands of tables).
class NewTables {
 public:
  explicit NewTables(const std::vector<std::string>& names) {
    for (const auto& n : names) {
      std::size_t dot = n.rfind('.');
      if (dot == std::string::npos)
        add({"", n});
      else
        add({n.substr(0, dot), n.substr(dot + 1)});
    }
  }
  void add(const TableName& t) {
    if (!t.name.empty()) schemas_by_name_[t.name].insert(t.schema);  // "" for unqualified
  }
  bool contains(const TableName& t) const {
    auto it = schemas_by_name_.find(t.name);
    if (it == schemas_by_name_.end()) return false;
    return t.schema.empty() || it->second.count("") != 0 || it->second.count(t.schema) != 0;
  }

 private:
  std::unordered_map<std::string, std::unordered_set<std::string>> schemas_by_name_;
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
