#pragma once
// Status and parity of a chain against a ledger, computed in memory from one ledger read.
#include <string>
#include <vector>

#include "engine/chain.hpp"
#include "engine/ledger.hpp"

namespace rb::migrations {

struct HashMismatch {
  std::string filename;
  std::string ledger_sha256;
  std::string file_sha256;
  bool line_endings_only = false;  // only CRLF/LF or a byte-order mark differ: not an edit
};

struct Status {
  std::vector<const Migration*> applied;        // in the chain and in the ledger
  std::vector<const Migration*> pending;        // not applied, newer than the newest applied
  std::vector<const Migration*> missing_in_db;  // not applied, older than an applied one (a gap)
  std::vector<LedgerRow> extra_in_db;           // in the ledger, not in the chain
  std::vector<HashMismatch> hash_mismatches;    // edited after being applied
  std::vector<HashMismatch> line_ending_only;   // same content, different line endings / BOM
  std::vector<LedgerRow> dirty;                 // failed non-transactional migrations, and those cut
                                                // off while running (status "running", no runner)
  std::vector<std::string> disagreements;       // compatibility mode: runbook's and the tool's ledgers differ

  // PASS: no drift (pending migrations are not drift).
  bool parity_pass() const {
    return missing_in_db.empty() && extra_in_db.empty() && hash_mismatches.empty() && dirty.empty() &&
           disagreements.empty();
  }
  bool up_to_date() const { return parity_pass() && pending.empty(); }
  // One line per problem, naming the files: what an operator must read.
  std::vector<std::string> drift_messages() const;
};

Status compute_status(const Chain& chain, const std::vector<LedgerRow>& ledger);

// True when `ledger_sha256` is the hash of `content` with other line endings or a BOM.
bool differs_only_in_line_endings(const std::string& content, const std::string& ledger_sha256);

}  // namespace rb::migrations
