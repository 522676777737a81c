#pragma once
// SQL analysis of migration files, from the PostgreSQL parse tree (libpg_query, PostgreSQL 15
// grammar): split a file into statements with their lines, find the statements that refuse a
// transaction block and the files that manage their own transaction, and lint for the changes
// that hurt production (destructive statements, long locks, table rewrites).
// No Lua here; bindings/lua_sql.cpp exposes this as the `sql` module.
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rb::sql {

struct Statement {
  std::string text;  // exactly what psql sends for it: from its first byte after whitespace and
                     // -- comments (a leading block comment is kept) through its ";" (the last
                     // statement of a file may have none)
  int line = 1;      // 1-based line where the statement starts (its first token)
  int text_line = 1; // 1-based line where `text` starts (a leading block comment's line)
  std::size_t offset = 0, length = 0;  // byte range of `text` in the file
  std::string kind;  // parse node name, e.g. "CreateStmt", "IndexStmt", "TransactionStmt"
  bool transaction_control = false;   // BEGIN/START/COMMIT/ROLLBACK/END/SAVEPOINT/PREPARE ...
  bool opens_block = false;           // BEGIN / START TRANSACTION
  bool closes_block = false;          // COMMIT / END / ROLLBACK / ABORT / PREPARE TRANSACTION
  std::string no_transaction_reason;  // non-empty when it cannot run inside a transaction block,
                                      // e.g. "CREATE INDEX CONCURRENTLY"
  nlohmann::json node;  // the parse node as libpg_query emits it: {"<kind>": {...}}
};

struct Script {
  std::vector<Statement> statements;
  bool manages_own_transaction = false;  // has top-level BEGIN/START/COMMIT/ROLLBACK/PREPARE:
                                         // run as written, never wrap
  bool needs_no_transaction = false;     // some statement has a no_transaction_reason
  std::vector<std::string> extensions_created;  // CREATE EXTENSION names, in file order
};

// Parses PostgreSQL SQL. `server_version_num` (e.g. 110000, 150000) decides the version-dependent
// cases (ALTER TYPE ... ADD VALUE refuses a transaction block before 12).
// A syntax error throws rb::ConfigError "FILE:LINE: syntax error: <message> (near "...")".
// A NUL byte in the text throws rb::ConfigError too.
Script analyze(const std::string& sql, const std::string& filename,
               int server_version_num = 150000);

// "line L, column C" in the file of the server's error position (1-based character in the
// statement's text); "line L" of the statement when the server gave no position.
std::string position_in_file(const Statement& statement, int position);
// The line of that position (the statement's line when there is none).
int line_in_file(const Statement& statement, int position);

// 1-based line of the byte at `offset` (offsets past the end count as the last line).
int line_of(const std::string& text, std::size_t offset);

// ---- Review excerpts -----------------------------------------------------------------------
// What the review and the dry-run plan print of a migration: all of a normal file, a bounded
// head of a huge one (a 50 MB data load echoed whole helps nobody and floods the terminal and
// the run record). The whole SQL stays in the file and is printed by `-v` (the parity step's
// detail).

struct ExcerptLimits {
  std::size_t max_lines = 200;
  std::size_t max_bytes = 16 * 1024;
};

struct Excerpt {
  std::string text;            // `sql` itself when it fits, else its first whole lines
  bool cut = false;            // something was left out
  std::size_t lines_left = 0;  // lines (or the rest of a line) not in `text`
  std::size_t bytes_left = 0;
};

// The head of `sql` within both limits, cut after a newline (a first line longer than
// max_bytes is cut on a character boundary).
Excerpt review_excerpt(const std::string& sql, const ExcerptLimits& limits = {});

// The line that follows a cut excerpt, e.g. "-- ... 19,800 more lines (2.1 MiB) not shown,
// 19,795 of 20,000 statements; the whole file: db/0002_rows.sql, or run with -v".
// `statements_left` may be npos when unknown: then only the total is named.
std::string excerpt_note(const Excerpt& excerpt, std::size_t statements_left, std::size_t statements,
                         const std::string& path);

// ---- Lint -------------------------------------------------------------------------------------

struct Finding {
  std::string file;
  int line = 1;
  std::string rule;      // stable kebab-case identifier, see the rule list at lint() below
  std::string severity;  // "error" | "warning"
  std::string message;   // what and why it is dangerous
  bool destructive = false;  // loses data: production policy may require an acknowledgement
};

struct LintContext {
  // Tables the caller knows to be new, e.g. created by an earlier pending migration of the same
  // run: "name" or "schema.name". lint() adds the tables the script itself creates (CREATE TABLE
  // without IF NOT EXISTS, CREATE TABLE AS, SELECT INTO, CREATE MATERIALIZED VIEW) as it walks
  // the statements in order. Operations on new tables lock or rewrite nothing that matters.
  std::vector<std::string> new_tables;
};

// Rules (stable names): drop-table, drop-column, drop-schema, truncate, delete-without-where,
// update-without-where (all destructive); create-index-not-concurrently,
// add-column-not-null-without-default, alter-column-type,
// add-foreign-key-or-check-without-not-valid, create-extension (warnings);
// concurrently-in-transaction (error: a statement that refuses a transaction block, e.g.
// CONCURRENTLY, between the file's own BEGIN and COMMIT); several-transactions (warning: more
// than one BEGIN ... COMMIT of the file's own: a later failure leaves earlier ones committed).
std::vector<Finding> lint(const Script& script, const std::string& filename,
                          const LintContext& ctx = {});

}  // namespace rb::sql
