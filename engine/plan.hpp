#pragma once
// The plan of a run: what it will change, decided once by the engine from the chain, the
// ledger, the target and the options — and the policy that must be met before it may
// change anything. Review, confirmation, backup decision, maintenance hooks, apply,
// rollback and the run record all use this one object; nothing else decides what a run
// changes. A plan can be saved (--plan-out) and applied later only if nothing it was
// computed from has changed (--plan).
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/approvals.hpp"
#include "engine/chain.hpp"
#include "engine/checklist.hpp"
#include "engine/ledger.hpp"
#include "engine/sql.hpp"
#include "engine/status.hpp"

namespace rb::migrations {

enum class PlanKind { apply, rollback };
const char* to_string(PlanKind kind);

enum class TxMode {
  transactional,   // wrapped in one transaction with its ledger change
  no_transaction,  // statement by statement (CREATE INDEX CONCURRENTLY, ...), dirty row on failure
  own,             // the file has its own BEGIN/COMMIT: run as written
};
const char* to_string(TxMode mode);

// The requirements of a run before it may change anything. Composed from the runbook's
// settings and the environment by effective_policy(); a composition may tighten freely
// and loosen only explicitly (recorded in `loosened`).
struct Policy {
  std::string confirm_token;               // typed token; empty: a yes/no question
  std::string backup = "optional";         // "skip" | "optional" | "required"
  bool acknowledge_destructive = false;    // each destructive finding acknowledged by name
  bool maintenance = false;                // the pause/maintenance step ran in this run
  std::vector<std::string> loosened;       // "backup: required -> optional (by prod-lite.lua)"
  std::vector<checklist::Item> checklist;  // human items a person ticks before a change
  approvals::Policy approvals;             // distinct approvers of exactly this plan (approve.lua)
};

// Stricter of two backup policies ("required" > "optional" > "skip"); throws ConfigError
// for an unknown value.
std::string stricter_backup(const std::string& a, const std::string& b);
// True when `to` is a looser value than `from` for policy setting `key`.
bool loosens(const std::string& key, const std::string& from, const std::string& to);

struct Finding {
  sql::Finding lint;
  std::string id;  // "drop-table@0005_drop_legacy.sql:3": what --ack names
};

struct PlannedMigration {
  std::string name, version, sha256;
  std::string path;  // the file that runs: up script, or down script for a rollback
  std::string sql;
  TxMode tx = TxMode::transactional;
  bool gap = false;  // older than applied migrations (only planned with allow_drift)
  sql::Script script;                   // parsed once per run, here
  std::vector<Finding> findings;        // lint of `sql`, in file order
  std::vector<std::string> extensions;  // CREATE EXTENSION names it needs
};

struct PlanOptions {
  PlanKind kind = PlanKind::apply;
  std::string target;        // apply: stop after this version or name
  bool allow_drift = false;  // apply: also apply gaps; never refuses on drift here
  int count = 1;             // rollback: the newest `count` applied migrations
  std::string to;            // rollback: or everything after this version
  int server_version = 150000;
};

struct DatabaseIdentity {
  std::string name;               // current_database()
  std::string system_identifier;  // pg_control_system(), when readable
  std::string server;             // host:port as the server reports it
  std::string text() const;
};

struct Plan {
  PlanKind kind = PlanKind::apply;
  PlanOptions options;
  std::string directory;
  std::string ledger;              // schema.table
  std::string ledger_fingerprint;  // sha256 over the ledger rows it was computed against
  std::size_t ledger_rows = 0;
  int server_version = 0;
  DatabaseIdentity database;
  Status status;  // the chain against that ledger (pointers into the chain it was made from)
  std::vector<std::string> drift;
  std::vector<PlannedMigration> migrations;  // in the order they will run
  std::vector<std::string> missing_down;     // rollback: planned migrations without a down script
  Policy policy;

  bool empty() const { return migrations.empty(); }
  std::vector<const Finding*> destructive() const;
  // Stable hash of what the plan would change and under which conditions.
  std::string id() const;
};

// Hash of the ledger rows that decide a plan (filename, sha256, status), order-independent.
std::string ledger_fingerprint(const std::vector<LedgerRow>& rows);

// Computes the plan. Throws ConfigError for a target or rollback request that does not match
// the chain or ledger. Drift does not throw here: the plan carries it (status, drift) and
// apply refuses unless allow_drift; a rollback plan lists migrations without a down script
// (missing_down) and rollback refuses to run it.
Plan make_plan(const Chain& chain, const std::vector<LedgerRow>& ledger, const std::string& ledger_name,
               const PlanOptions& options, const Policy& policy);

// What this run did to meet the plan's policy.
struct BackupProof {
  std::string path, sha256, taken_at;
  long long size = 0;
  int toc_entries = 0;
  std::string plan_id;  // the plan it was taken for
};
struct Consent {
  bool confirmed = false;
  std::string confirmed_by;             // "--confirm", "terminal", "--yes"
  std::set<std::string> acknowledged;   // finding ids
  bool backup_taken = false;
  BackupProof backup;
  bool maintenance = false;             // the pause step ran
  std::set<std::string> checklist_ticked;  // checklist item ids a person ticked in this run
  bool approvals_met = false;              // enough approvals of this plan's id were read
};

// Requirements of `plan` that `consent` does not meet, one operator-readable line each
// (with the option or step that meets it). Empty: the plan may run.
std::vector<std::string> unmet_requirements(const Plan& plan, const Consent& consent);

// Saved plans (--plan-out / --plan). The JSON holds files and hashes, the ledger
// fingerprint, the database identity, the server, the policy and the findings.
nlohmann::json to_json(const Plan& plan);
// What differs between a saved plan and the plan computed now, one line per difference
// naming the file, the ledger or the database. Empty: the saved plan is what would run.
std::vector<std::string> differences(const nlohmann::json& saved, const Plan& current);

// Verifies a pg_dump custom-format archive: readable by `pg_restore --list`, its SHA-256
// and size. Throws StepError naming the file when it is not a readable archive.
BackupProof verify_backup(const std::string& path);

}  // namespace rb::migrations
