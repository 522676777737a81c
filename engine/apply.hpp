#pragma once
// Applying and rolling back a chain: the advisory lock, the drift gate, one round trip per
// transactional migration, statement-by-statement for the ones that cannot run in a
// transaction (with dirty-state recording), lock-timeout retries with backoff.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "engine/chain.hpp"
#include "engine/db.hpp"
#include "engine/ledger.hpp"
#include "engine/migration_effects.hpp"
#include "engine/mode.hpp"
#include "engine/plan.hpp"
#include "engine/status.hpp"

namespace rb::migrations {

struct ApplyOptions {
  RunMode mode = RunMode::live;
  std::string target;            // only for the policy-free overload: the plan decides otherwise
  bool allow_drift = false;      // only for the policy-free overload
  std::string lock_timeout;      // SET LOCAL per migration, e.g. "5s"
  std::string statement_timeout; // SET LOCAL per migration
  double lock_wait_s = 60;       // how long to wait for another runner's advisory lock
  int lock_retries = 3;          // retries of a migration that hit lock_timeout
  double retry_backoff_s = 1;    // first backoff; doubles each retry
  std::string applied_by;
  std::string run_id;
  int server_version = 150000;   // only for the policy-free overload
  // Record each migration's table locks and rewrites (engine/migration_effects.hpp): a shadow
  // rehearsal, where the extra catalog reads cost nothing that matters.
  bool record_effects = false;
};

struct MigrationOutcome {
  std::string name, version, sha256;
  std::string status;  // "applied", "would apply", "failed", "dirty", "rolled back", "would roll back",
                       // "rehearsed" (in a rolled-back transaction, or applied on a shadow)
  double ms = 0;
  bool transactional = true;
  int retries = 0;
  Effects effects;  // with ApplyOptions::record_effects
};

// Where and why a migration (or down script) failed, for the run record and `--json`: the
// message is what the operator reads, the rest what a machine reads.
struct MigrationFailure {
  std::string name, path, version, sha256;
  std::string status;     // "failed", "dirty" (partly committed), "cancelled"
  std::string message;    // the whole error, as printed
  std::string sqlstate;   // "" when the server said nothing (a lost session, a refusal)
  int statement = 0;      // 1-based statement of the file; 0: not one of the file's statements
  int statements = 0;     // how many the file has
  int line = 0;           // line in the file where the failing statement (or error position) is
  std::string sql;        // the failing statement, bounded
};

// Progress and plan output; every callback is optional.
struct ApplyObserver {
  std::function<void(const std::string& message)> waiting_for_lock;  // says who holds it
  std::function<void(const PlannedMigration&, std::size_t index, std::size_t total)> starting;
  std::function<void(const MigrationOutcome&)> finished;
  std::function<void(const MigrationFailure&)> failed;  // before the error is thrown
  std::function<void(const PlannedMigration&, const std::string& sql)> would_run;  // dry-run plan
  std::function<void(const std::string& message)> retrying;
  std::function<void(const std::string& message)> notice;  // e.g. the sequences a rehearsal put back
  std::function<bool()> interrupted;  // operator asked to stop: checked between migrations
  // A live migration or down script still running after kFirstBeat, then every kBeatEvery: its
  // time, wait event and blockers (engine/heartbeat.hpp). Called from another thread.
  std::function<void(const std::string& line)> heartbeat;
};

inline constexpr std::chrono::milliseconds kFirstBeat{3000};
inline constexpr std::chrono::milliseconds kBeatEvery{5000};

struct ApplyResult {
  std::vector<MigrationOutcome> migrations;
  Status before;  // status read under the lock
};

// Polls pg_try_advisory_lock (never a blocking lock: that deadlocks with CREATE INDEX
// CONCURRENTLY in the holder's session) until `wait_s` passes. Throws rb::AbortError.
void acquire_lock(db::Connection& conn, std::int64_t key, double wait_s, const ApplyObserver& obs);

// Holds the ledger's advisory lock for a scope (acquired with acquire_lock; nothing is
// taken when `take` is false, e.g. in dry-run). Released on scope exit, also on errors.
class LedgerLock {
 public:
  LedgerLock(db::Connection& conn, const Ledger& ledger, bool take, double wait_s, const ApplyObserver& obs = {});
  ~LedgerLock();
  LedgerLock(const LedgerLock&) = delete;
  LedgerLock& operator=(const LedgerLock&) = delete;

 private:
  db::Connection& conn_;
  std::int64_t key_;
  bool held_;
  // Compatibility mode: the tool's own advisory lock too, so the tool (the application's
  // start-up migration) waits while runbook changes the database, and runbook waits for it.
  std::int64_t tool_key_ = 0;
  bool tool_held_ = false;
};

// Applies exactly `plan`: takes the lock, re-reads the ledger and refuses (AbortError) when it
// no longer matches the plan's fingerprint, refuses drift unless the plan allows it, and in a
// live run refuses while unmet_requirements(plan, consent) is not empty — whatever steps the
// runbook ran or skipped. Each planned migration was parsed once, when the plan was made.
ApplyResult apply(db::Connection& conn, Ledger& ledger, const Chain& chain, const Plan& plan, const Consent& consent,
                  const ApplyOptions& options, const ApplyObserver& observer = {});

// For C++ callers that set no policy (tests): plans now from options.target/allow_drift and
// applies that plan.
ApplyResult apply(db::Connection& conn, Ledger& ledger, const Chain& chain, const ApplyOptions& options,
                  const ApplyObserver& observer = {});

struct RollbackOptions {
  RunMode mode = RunMode::live;
  int count = 1;          // how many of the newest applied migrations
  std::string to;         // or: roll back everything after this version
  std::string lock_timeout, statement_timeout;
  double lock_wait_s = 60;
};

// Runs the down scripts of a rollback plan newest first, each with its ledger delete in one
// transaction; stops between two of them when the run is interrupted. Refuses before changing
// anything when a planned migration has no down script, the ledger moved, or (live) the
// plan's requirements are unmet.
ApplyResult rollback(db::Connection& conn, Ledger& ledger, const Chain& chain, const Plan& plan,
                     const Consent& consent, const RollbackOptions& options, const ApplyObserver& observer = {});

// For C++ callers that set no policy (tests): plans options.count/to now and rolls back.
ApplyResult rollback(db::Connection& conn, Ledger& ledger, const Chain& chain, const RollbackOptions& options,
                     const ApplyObserver& observer = {});

}  // namespace rb::migrations
