#pragma once
// Adoption from another tool: read its ledger, check each recorded migration against the
// files, and baseline runbook's own ledger from it, so the team can use runbook alone.
#include <string>
#include <vector>

#include "engine/chain.hpp"
#include "engine/db.hpp"
#include "engine/ledger.hpp"
#include "engine/mode.hpp"

namespace rb::migrations {

struct AdoptReport {
  std::string tool, tool_table, ledger;    // what was read, and runbook's ledger written
  std::vector<std::string> matched;        // recorded by the tool, file present (checksum equal where kept)
  std::vector<std::string> already;        // matched and already in runbook's ledger
  std::vector<std::string> differs;        // recorded, but the file changed since (tool's checksum)
  std::vector<std::string> failed;         // the tool's failed state, with its message
  std::vector<std::string> unknown;        // recorded by the tool, no such file
  std::vector<std::string> pending;        // files the tool has not applied
  std::vector<std::string> recorded;       // rows written (live) or that would be (dry-run)
  // What keeps adoption from being exact: differs, failed, unknown; empty when it can proceed.
  std::vector<std::string> blockers() const;
};

// `tool` is a tool name or "tool:schema.table"; `own` is runbook's ledger to baseline (never
// the tool's table). Reads always; writes only in live mode and only when nothing blocks, in
// one transaction, under runbook's migration lock. Throws ConfigError for an unknown tool, a
// missing tool table, or `own` naming the tool's table.
AdoptReport adopt(db::Connection& conn, const Chain& chain, const std::string& tool, const LedgerName& own, RunMode mode,
                  const std::string& run_id, const std::string& applied_by);

}  // namespace rb::migrations
