#pragma once
// The ledger table: which migrations a database has, with the hash of each file as applied.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/db.hpp"

namespace rb::migrations {

struct LedgerRow {
  std::string filename;
  std::string disagreement;  // compatibility mode: the two ledgers disagree about it (drift), or ""
  std::string version;
  std::string sha256;
  // "applied"; "dirty" (a migration outside a transaction failed part way); "running" (one
  // outside a transaction has started and not ended: written and committed before its first
  // statement, so a run killed in the middle leaves it behind).
  std::string status = "applied";
  // A "running" row while another session holds the ledger's lock: that run is applying it now.
  // A "running" row without one was cut off (the runner killed, the server restarted): dirty.
  bool in_progress = false;
  std::string applied_at;
  long long execution_ms = 0;
  std::string applied_by;
  std::string run_id;
  int statements_done = 0;  // dirty and running rows: statements that completed
  int failed_statement = 0; // dirty rows: 1-based statement number that failed; running rows:
                            // the statement in flight (it may be partial)
  std::string error;        // dirty rows: the server's message
};

// Which ledger a run keeps: runbook's own table and, in compatibility mode, another tool's.
struct LedgerName {
  std::string schema = "public";
  std::string table = "schema_migrations";
  bool chosen = false;     // named by the operator; the default refuses a database another tool runs
  std::string tool;        // compatibility mode (--set ledger=sqlx): the tool whose ledger is kept in step
  std::string tool_table;  // its table, schema-qualified
  std::string qualified() const { return schema + "." + table; }
  // What --set ledger= took, normalised, so a saved plan names the same ledger: "sqlx",
  // "sqlx:app._sqlx_migrations" or "schema.table".
  std::string spec() const;
  // "" (the default: public.schema_migrations), "schema.table", "table" (schema public), or a
  // tool name (sqlx, prisma, golang-migrate, dbmate, diesel, node-pg-migrate, goose, flyway),
  // optionally with ":schema.table" for a table of another name; runbook's own ledger is then
  // public.runbook_ledger. Throws ConfigError for an empty table or schema name.
  static LedgerName parse(const std::string& text);
};

struct Chain;

// Who holds the advisory lock `key` ("application_name (user u) on host, pid N, connected
// since T"), or empty when nobody does; `others_only` leaves this session out.
std::string lock_holder(db::Connection& conn, std::int64_t key, bool others_only = false);

class Ledger {
 public:
  // `chain` is needed in compatibility mode: the tool's rows are matched to its files.
  Ledger(db::Connection& conn, LedgerName name = {}, const Chain* chain = nullptr);

  const LedgerName& name() const { return name_; }
  std::string quoted() const { return quoted_; }
  // True when the table exists; throws ConfigError, naming the tool it looks like, when a
  // table of another shape (golang-migrate's or dbmate's schema_migrations) has its name.
  bool exists();
  // Creates the table on first use; adds our columns to a minimal (filename, sha256,
  // applied_at) ledger such as seed 000's so such a ledger is adopted in place.
  void ensure();
  // The whole ledger in one query; empty when the table does not exist yet. In compatibility
  // mode, merged with the tool's ledger: what only the tool recorded before runbook's first row
  // counts as applied; what one ledger has and the other lacks after that is a disagreement;
  // the tool's failed states are dirty rows.
  std::vector<LedgerRow> read();

  // SQL statements that record a migration as applied (in compatibility mode, in both
  // ledgers); sent in the same round trip as the migration itself. execution_ms is measured by
  // the server from the transaction start.
  std::vector<std::string> insert_applied_sql(const std::string& filename, const std::string& version,
                                 const std::string& sha256, const std::string& applied_by,
                                 const std::string& run_id, bool timed_by_transaction) const;
  void record_applied(const std::string& filename, const std::string& version, const std::string& sha256,
                      long long execution_ms, const std::string& applied_by, const std::string& run_id);
  void record_dirty(const std::string& filename, const std::string& version, const std::string& sha256,
                    long long execution_ms, const std::string& applied_by, const std::string& run_id,
                    int statements_done, int failed_statement, const std::string& error);
  // Before the first statement of a migration that runs outside a transaction (or manages its
  // own): a "running" row, committed at once. record_progress moves it on after each statement
  // that committed; record_applied or record_dirty ends it.
  void record_running(const std::string& filename, const std::string& version, const std::string& sha256,
                      const std::string& applied_by, const std::string& run_id);
  void record_progress(const std::string& filename, int statements_done);
  // The migration failed before anything it ran was committed: its running row goes.
  void forget_running(const std::string& filename);
  std::vector<std::string> delete_sql(const std::string& filename) const;
  void remove(const std::string& filename);

  // Advisory lock key for this ledger: derived from its qualified name, so runners of
  // different ledgers in one database do not serialise each other.
  std::int64_t lock_key() const;
  // Compatibility mode: the advisory lock key the tool itself takes (sqlx, Prisma,
  // node-pg-migrate, Flyway), if it takes one.
  std::optional<std::int64_t> tool_lock_key() const;

 private:
  void refuse_foreign_table();
  void refuse_foreign_ledgers();
  std::vector<LedgerRow> read_own();
  void merge_tool_rows(std::vector<LedgerRow>& rows);
  // The tool's SQL for `filename`'s migration, none outside compatibility mode.
  std::vector<std::string> tool_sql(const std::string& filename, const char* what, const std::string& error = "",
                       long long execution_ms = 0) const;
  db::Connection& conn_;
  LedgerName name_;
  std::string quoted_;
  const Chain* chain_;
  const struct ToolLedgerModule* tool_ = nullptr;
};

}  // namespace rb::migrations
