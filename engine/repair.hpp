#pragma once
// Ledger repairs after a manual fix (seeds 002, 004): resolve and baseline.
#include <string>
#include <vector>

#include "engine/chain.hpp"
#include "engine/db.hpp"
#include "engine/ledger.hpp"
#include "engine/mode.hpp"

namespace rb::migrations {

// Marks `name` as "applied" (the operator finished it by hand) or "rolled-back" (the
// operator undid it by hand). Returns what it did, in words. Throws rb::ConfigError for an
// unknown migration or state.
std::string resolve(db::Connection& conn, Ledger& ledger, const Chain& chain, const std::string& name,
                    const std::string& as, RunMode mode, const std::string& run_id, const std::string& applied_by);

// Records every migration up to and including `version` that the ledger lacks as applied,
// without running it: adopting a database whose schema already has them.
std::vector<std::string> baseline(db::Connection& conn, Ledger& ledger, const Chain& chain, const std::string& version,
                                  RunMode mode, const std::string& run_id, const std::string& applied_by);

}  // namespace rb::migrations
