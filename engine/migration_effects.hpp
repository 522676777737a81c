#pragma once
// What a migration did to the relations it touched, measured where it runs for real (a shadow
// rehearsal): the table locks it took and their strongest mode, and the tables it rewrote
// (relfilenode changed). A transactional migration's locks are read from pg_locks inside its own
// transaction, just before COMMIT, so none is missed; the locks of statements that run outside
// a transaction are sampled from a second session while they run.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/db.hpp"

namespace rb::migrations {

struct LockTaken {
  std::string relation;  // schema-qualified, as regclass prints it
  std::string mode;      // "ACCESS EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", ...
  bool created = false;  // the relation did not exist before the migration
  bool sampled = false;  // seen by sampling only (a statement outside a transaction)
};

struct Effects {
  std::vector<LockTaken> locks;       // one per relation, its strongest mode; strongest first
  std::vector<std::string> rewritten; // tables and materialized views whose storage was rewritten
};

// "AccessExclusiveLock" -> "ACCESS EXCLUSIVE"; and its rank (0 = ACCESS SHARE ... 7).
std::string lock_mode_name(const std::string& pg_locks_mode);
int lock_mode_rank(const std::string& pg_locks_mode);

class EffectsRecorder {
 public:
  // `ignored`: schema-qualified tables left out of the report (the ledger's own).
  EffectsRecorder(db::Connection& conn, const std::vector<std::string>& ignored);
  ~EffectsRecorder();
  EffectsRecorder(const EffectsRecorder&) = delete;
  EffectsRecorder& operator=(const EffectsRecorder&) = delete;

  // The statement a transactional migration runs just before COMMIT.
  const std::string& capture_sql() const { return capture_sql_; }
  // Before the migration: the storage of every relation; starts sampling when `sample`.
  void begin(bool sample);
  // Before a statement outside a transaction: the lock its kind always takes (CREATE INDEX
  // CONCURRENTLY: SHARE UPDATE EXCLUSIVE on the table), which sampling can miss on a shadow
  // where it takes milliseconds. `node` is the statement's parse node.
  void expect_lock(const nlohmann::json& node);
  // After it (committed or not): what it took and rewrote.
  Effects end();

 private:
  void sample_loop();
  db::Connection& conn_;
  std::string capture_sql_;
  int pid_ = 0;
  std::string ignored_oids_;  // '{...}' for ANY()
  std::vector<std::pair<long long, long long>> storage_before_;  // oid, relfilenode
  std::unique_ptr<db::Connection> sampler_conn_;
  std::thread sampler_;
  std::atomic<bool> stop_{false};
  std::vector<std::pair<long long, std::string>> sampled_;  // oid, mode (sampler thread only until joined)
  std::vector<std::pair<long long, std::string>> expected_;  // oid, mode: known from the statement
};

}  // namespace rb::migrations
