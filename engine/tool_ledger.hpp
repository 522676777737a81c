#pragma once
// Another migration tool's ledger, read and written as that tool does, so a team can run
// `runbook` beside its tool (compatibility mode, `--set ledger=TOOL`) or adopt from it.
// One small module per tool (engine/tool_ledger_*.cpp), each written from the tool's source.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/chain.hpp"
#include "engine/db.hpp"

namespace rb::migrations {

// One migration as the tool's ledger records it.
struct ToolRecord {
  std::string key;       // the tool's identity for it: "20240101120000", "1.1", "0001_init"
  int index = -1;        // position in the chain, -1 when no file of the chain is it
  bool failed = false;   // the tool's failed state (golang-migrate dirty, sqlx success = false, ...)
  std::string failure;   // what the tool says and how its users fix it
  bool checksum_differs = false;  // the tool keeps a checksum and the file no longer has it
};

// What a write must know besides the migration.
struct ToolWrite {
  const Chain* chain = nullptr;
  bool timed_by_transaction = false;  // execution time from the transaction's start (now())
  long long execution_ms = 0;         // otherwise: as runbook measured it
};

struct ToolLedgerModule {
  const char* name;           // what --set ledger= takes: "sqlx"
  const char* table;          // its default table, schema-qualified: "public._sqlx_migrations"
  const char* layout;         // the layout whose rules the tool follows
  // True when a table with these columns (in order) is this tool's.
  bool (*matches)(const std::vector<std::string>& columns);
  // CREATE TABLE IF NOT EXISTS ... exactly as the tool creates it.
  std::string (*create_sql)(db::Connection& conn, const std::string& table);
  // The applied set, with the tool's own identity rules (version, name, checksum).
  std::vector<ToolRecord> (*read)(db::Connection& conn, const std::string& table, const Chain& chain);
  // SQL statements that record `m` applied, as the tool would; run in the migration's
  // transaction (a failed state the tool left for it is cleared as the tool's own fix does).
  std::vector<std::string> (*applied_sql)(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite& w);
  // SQL statements that record `m` as no longer applied (rolled back or resolved so).
  std::vector<std::string> (*removed_sql)(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite& w);
  // SQL that records `m` failed part-way, where the tool records that (golang-migrate dirty,
  // Prisma's unfinished row, Flyway success = false); nullptr: the tool records nothing.
  std::vector<std::string> (*failed_sql)(db::Connection& conn, const std::string& table, const Migration& m, const ToolWrite& w,
                            const std::string& error);
  // The advisory lock key the tool takes while it migrates; nullptr: it takes none (or one
  // runbook cannot reproduce).
  std::int64_t (*lock_key)(db::Connection& conn, const std::string& table);
};

const std::vector<const ToolLedgerModule*>& tool_ledgers();
const ToolLedgerModule* find_tool_ledger(const std::string& name);
// The tool whose table has these columns, or nullptr.
const ToolLedgerModule* tool_of_columns(const std::vector<std::string>& columns);

struct LedgerName;
// The layout a compatibility-mode ledger implies ("" outside compatibility mode).
std::string layout_of_ledger(const LedgerName& ledger);

// A known tool's table in the database: which tool, where, how many rows.
struct ForeignLedger {
  const ToolLedgerModule* tool = nullptr;
  std::string table;  // schema-qualified
  long long rows = 0;
};
// Every table of a known tool's shape in the database (one catalog query).
std::vector<ForeignLedger> find_foreign_ledgers(db::Connection& conn);

extern const ToolLedgerModule kSqlxLedger, kPrismaLedger, kGolangMigrateLedger, kDbmateLedger, kDieselLedger,
    kNodePgMigrateLedger, kGooseLedger, kFlywayLedger, kPostgratorLedger;

// Shared by the modules.
// Chain position of the migration whose version equals `version` numerically, or -1.
int index_by_version(const Chain& chain, const std::string& version);
// Tables that are a set of version strings compared as text (dbmate, diesel): read them, and
// write one version in or out.
std::vector<ToolRecord> read_version_set(db::Connection& conn, const std::string& table, const Chain& chain);
std::vector<std::string> insert_version_sql(db::Connection& conn, const std::string& table, const Migration& m,
                                            const ToolWrite&);
std::vector<std::string> delete_version_sql(db::Connection& conn, const std::string& table, const Migration& m,
                                            const ToolWrite&);
// Chain position of the migration named `name`, or -1.
int index_by_name(const Chain& chain, const std::string& name);
// "text" with `'` doubled, quoted: for SQL the modules build around server-side expressions.
std::string sql_text(db::Connection& conn, const std::string& text);
// Flyway's checksum of a file's text (engine/tool_ledger_flyway.cpp), for tests and adopt.
std::int32_t flyway_checksum(const std::string& text);
// "schema"."table" of "schema.table".
std::string quoted_table(db::Connection& conn, const std::string& qualified);
// Execution time as the server sees it, in `unit_per_second` (1000: ms, 1e9: ns), or 0.
std::string elapsed_sql(const ToolWrite& w, double unit_per_second);

}  // namespace rb::migrations
