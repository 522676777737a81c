#pragma once
// The ledger table: which migrations a database has, with the hash of each file as applied.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/db.hpp"

namespace rb::migrations {

struct LedgerRow {
  std::string filename;
  std::string version;
  std::string sha256;
  std::string status = "applied";  // "applied" | "dirty" (a non-transactional migration failed)
  std::string applied_at;
  long long execution_ms = 0;
  std::string applied_by;
  std::string run_id;
  int statements_done = 0;  // dirty rows: statements that completed before the failure
  int failed_statement = 0; // dirty rows: 1-based statement number that failed
  std::string error;        // dirty rows: the server's message
};

struct LedgerName {
  std::string schema = "public";
  std::string table = "schema_migrations";
  std::string qualified() const { return schema + "." + table; }
  // "schema.table", or "table" in schema public; empty: the default ledger.
  static LedgerName parse(const std::string& text) {
    LedgerName n;
    if (text.empty()) return n;
    const auto dot = text.find('.');
    if (dot == std::string::npos) n.table = text;
    else {
      n.schema = text.substr(0, dot);
      n.table = text.substr(dot + 1);
    }
    return n;
  }
};

class Ledger {
 public:
  Ledger(db::Connection& conn, LedgerName name = {});

  const LedgerName& name() const { return name_; }
  std::string quoted() const { return quoted_; }
  // True when the table exists; throws ConfigError, naming the tool it looks like, when a
  // table of another shape (golang-migrate's or dbmate's schema_migrations) has its name.
  bool exists();
  // Creates the table on first use; adds our columns to a minimal (filename, sha256,
  // applied_at) ledger such as seed 000's so such a ledger is adopted in place.
  void ensure();
  // The whole ledger in one query; empty when the table does not exist yet.
  std::vector<LedgerRow> read();

  // SQL text that records a migration as applied; sent in the same round trip as the
  // migration itself. execution_ms is measured by the server from the transaction start.
  std::string insert_applied_sql(const std::string& filename, const std::string& version,
                                 const std::string& sha256, const std::string& applied_by,
                                 const std::string& run_id, bool timed_by_transaction) const;
  void record_applied(const std::string& filename, const std::string& version, const std::string& sha256,
                      long long execution_ms, const std::string& applied_by, const std::string& run_id);
  void record_dirty(const std::string& filename, const std::string& version, const std::string& sha256,
                    long long execution_ms, const std::string& applied_by, const std::string& run_id,
                    int statements_done, int failed_statement, const std::string& error);
  std::string delete_sql(const std::string& filename) const;
  void remove(const std::string& filename);

  // Advisory lock key for this ledger: derived from its qualified name, so runners of
  // different ledgers in one database do not serialise each other.
  std::int64_t lock_key() const;

 private:
  void refuse_foreign_table();
  db::Connection& conn_;
  LedgerName name_;
  std::string quoted_;
};

}  // namespace rb::migrations
