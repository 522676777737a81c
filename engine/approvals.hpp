#pragma once
// Approvals bound to a plan (issue 12, part 2; seed 004's "approvals from Engineering and SRE"):
// each approval names the plan's id (its hash: what would change, where, under which policy), so
// an edited plan has none. They live on the target database, in an append-only table, and an
// environment's policy says how many distinct approvers a production change needs.
#include <string>
#include <vector>

#include "engine/db.hpp"

namespace rb::approvals {

inline constexpr const char* kTable = "public.runbook_approvals";

struct Policy {
  int required = 0;                    // 0: no approvals needed
  std::vector<std::string> approvers;  // who may approve; empty: anyone
  bool self_approval = false;          // may the runner's own approval count?
};

struct Approval {
  std::string plan_id, approver, comment, approved_at, host, run_id;
};

// Creates the table on first use (and its trigger refusing UPDATE, DELETE and TRUNCATE, so it is
// append-only for every role that cannot drop the trigger), then adds `a`.
void record(db::Connection& conn, const Approval& a);
// The approvals of `plan_id`, oldest first; none when the table does not exist.
std::vector<Approval> of_plan(db::Connection& conn, const std::string& plan_id);

struct Decision {
  bool met = true;
  std::vector<std::string> counted;  // distinct approvers whose approval counts
  std::vector<std::string> ignored;  // "mallory (not an approver)", "deploy (the runner; self_approval = false)"
  int missing = 0;
  std::string message;               // why the change is refused, and what to run next
};

// The runner is the OS user who runs the change (compared with each approver, without "@host").
Decision decide(const Policy& policy, const std::vector<Approval>& approvals, const std::string& runner,
                const std::string& plan_id);

}  // namespace rb::approvals
