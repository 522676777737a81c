#pragma once
// What `runbook serve` answers: seed 000's parity endpoint (GET /api/ops/db/migrations) and a
// page of each environment's parity and recent runs. Built from status.lua's `status` event and
// the run records, so the served answer is the one `runbook status.lua` gives.
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rb::parity_report {

// Seed 000's shape: parity.status PASS only when every migration file is applied, unchanged,
// and the ledger has nothing else — a pending migration is missing in the database here, as
// the seed's release gate expects. Lists hold at most `limit` entries (`truncated` says so).
nlohmann::json response(const std::string& env, const nlohmann::json& status_event, std::size_t limit);

// The newest `limit` run records in `journal_dir` for `env` ("" = any), newest first: their
// header fields only (run_id, runbook, environment, mode, status, exit_code, started_at,
// finished_at, database). Records that cannot be read are skipped.
std::vector<nlohmann::json> recent_runs(const std::string& journal_dir, const std::string& env, std::size_t limit);

// The page: one section per environment (a response above, or {"env", "error"} when its status
// could not be read), then the recent runs. Self-contained HTML, every value escaped.
std::string page(const std::vector<nlohmann::json>& environments, const std::vector<nlohmann::json>& runs);

}  // namespace rb::parity_report
