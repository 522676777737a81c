#include "engine/apply.hpp"

#include <algorithm>
#include <optional>
#include <chrono>
#include <memory>
#include <thread>

#include "engine/cancel.hpp"
#include "engine/errors.hpp"
#include "engine/heartbeat.hpp"
#include "engine/sql.hpp"

namespace rb::migrations {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string excerpt(const std::string& statement) {
  std::string t = trim(statement);
  auto nl = t.find('\n');
  if (nl != std::string::npos) t = t.substr(0, nl) + " …";
  if (t.size() > 160) t = t.substr(0, 157) + "…";
  return t;
}

constexpr const char* kLockNotAvailable = "55P03";

// Where a statement of the file failed, for ApplyObserver::failed.
void locate(MigrationFailure& site, const sql::Script& script, std::size_t k, const db::SqlFailure& f) {
  const auto& st = script.statements[k];
  site.statement = static_cast<int>(k + 1);
  site.statements = static_cast<int>(script.statements.size());
  site.line = sql::line_in_file(st, f.position);
  site.sqlstate = f.sqlstate;
  site.sql = excerpt(st.text);
}

MigrationFailure site_of(const PlannedMigration& m) {
  MigrationFailure f;
  f.name = m.name;
  f.path = m.path;
  f.version = m.version;
  f.sha256 = m.sha256;
  return f;
}

// Tells the observer how `m` failed (the error is thrown by the caller).
void report_failure(const ApplyObserver& obs, MigrationFailure site, const std::string& status, const std::string& message) {
  if (!obs.failed) return;
  site.status = status;
  site.message = message;
  obs.failed(site);
}

// The run's cancel token (^C, SIGTERM, SIGHUP), or the observer's own test of it.
bool cancelled(const ApplyObserver& obs) {
  return cancel::requested() || (obs.interrupted && obs.interrupted());
}

// The SET LOCAL statements that open every transactional migration.
std::vector<std::string> transaction_prologue(db::Connection& conn, const std::string& lock_timeout,
                                              const std::string& statement_timeout) {
  std::vector<std::string> out{"BEGIN"};
  if (!lock_timeout.empty()) out.push_back("SET LOCAL lock_timeout = " + conn.quote(lock_timeout));
  if (!statement_timeout.empty()) out.push_back("SET LOCAL statement_timeout = " + conn.quote(statement_timeout));
  return out;
}

std::string plan_text(const sql::Script& script, const std::string& path, const char* ledger_step) {
  std::string how = "runs in one transaction together with its ledger change";
  if (script.manages_own_transaction) how = "runs as written (the file manages its own transaction)";
  for (const auto& s : script.statements)
    if (!s.no_transaction_reason.empty()) {
      how = "runs outside a transaction, statement by statement (" + s.no_transaction_reason + ")";
      break;
    }
  std::string text = "-- " + path + ": " + how + "; then " + ledger_step + "\n";
  // The statements as they will be sent, bounded as the review is (sql::review_excerpt): a
  // data file of 500,000 INSERTs is named, not echoed.
  const sql::ExcerptLimits limits;
  const auto piece = [](const sql::Statement& s) {
    return !s.text.empty() && s.text.back() == ';' ? s.text + "\n" : s.text + ";\n";
  };
  const std::size_t n = script.statements.size();
  std::string body;
  std::vector<std::size_t> ends;  // end of each statement in `body`
  std::size_t lines = 0, i = 0;
  for (; i < n && body.size() <= limits.max_bytes && lines <= limits.max_lines; ++i) {
    const std::string p = piece(script.statements[i]);
    lines += static_cast<std::size_t>(std::count(p.begin(), p.end(), '\n'));
    body += p;
    ends.push_back(body.size());
  }
  sql::Excerpt e = sql::review_excerpt(body, limits);
  if (!e.cut && i == n) return text + body;
  for (std::size_t k = i; k < n; ++k) {
    const std::string& t = script.statements[k].text;
    const bool semicolon = !t.empty() && t.back() == ';';
    e.lines_left += static_cast<std::size_t>(std::count(t.begin(), t.end(), '\n')) + 1;
    e.bytes_left += t.size() + (semicolon ? 1 : 2);
  }
  e.cut = true;
  const auto shown = static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), e.text.size()) - ends.begin());
  if (!e.text.empty() && e.text.back() != '\n') e.text += '\n';
  return text + e.text + sql::excerpt_note(e, n - shown, n, path) + "\n";
}

// Runs one transactional migration (statements + ledger change + COMMIT) in one round trip.
// Returns normally on success; throws StepError on failure, after rolling back.
void run_transactional(db::Connection& conn, const std::string& label, const sql::Script& script,
                       const std::vector<std::string>& ledger_sql, const std::string& lock_timeout,
                       const std::string& statement_timeout, int lock_retries, double backoff_s,
                       const ApplyObserver& obs, int& retries_used, MigrationFailure& site) {
  std::vector<std::string> batch = transaction_prologue(conn, lock_timeout, statement_timeout);
  const std::size_t first = batch.size();
  for (const auto& s : script.statements) batch.push_back(s.text);
  batch.insert(batch.end(), ledger_sql.begin(), ledger_sql.end());
  batch.push_back("COMMIT");

  for (int attempt = 0;; ++attempt) {
    db::SqlFailure failure;
    const int failed = conn.run_batch(batch, failure);
    if (failed < 0) return;
    try {
      conn.run_script("ROLLBACK");
    } catch (const std::exception&) {
      // The connection itself is gone; the server has rolled back.
    }
    const auto idx = static_cast<std::size_t>(failed);
    site.sqlstate = failure.sqlstate;
    if (idx >= first && idx < first + script.statements.size()) locate(site, script, idx - first, failure);
    if (cancelled(obs))
      throw AbortError(label + " was cancelled by the operator (" + cancel::reason() + ")" +
                       "\n  It was rolled back: neither the migration nor its ledger row is recorded.");
    if (failure.sqlstate == kLockNotAvailable && attempt < lock_retries) {
      const double wait = backoff_s * (1 << attempt);
      if (obs.retrying)
        obs.retrying(label + ": lock_timeout reached (" + failure.message + "); retry " +
                     std::to_string(attempt + 1) + "/" + std::to_string(lock_retries) + " in " +
                     std::to_string(static_cast<int>(wait * 1000)) + " ms");
      if (!cancel::sleep_for(wait))
        throw AbortError(label + ": interrupted (" + cancel::reason() + ") while waiting to retry; it was rolled back");
      retries_used = attempt + 1;
      continue;
    }
    std::string where;
    if (idx >= first && idx < first + script.statements.size()) {
      const auto& st = script.statements[idx - first];
      where = " at statement " + std::to_string(idx - first + 1) + " of " +
              std::to_string(script.statements.size()) + " (" + sql::position_in_file(st, failure.position) + ")";
      throw StepError(label + " failed" + where + ": " + failure.explained() + "\n    " + excerpt(st.text) +
                      "\n  It was rolled back: neither the migration nor its ledger row is recorded.");
    }
    if (idx < first) where = " while setting timeouts";
    else where = " while recording it in the ledger";
    throw StepError(label + " failed" + where + ": " + failure.explained() +
                    "\n  It was rolled back: neither the migration nor its ledger row is recorded.");
  }
}

// Session-level timeouts for statements that refuse a transaction (SET LOCAL needs one);
// the session's own values come back afterwards, whether the statements succeed or fail.
class SessionTimeouts {
 public:
  SessionTimeouts(db::Connection& conn, const std::string& lock_timeout, const std::string& statement_timeout)
      : conn_(conn), active_(!lock_timeout.empty() || !statement_timeout.empty()) {
    if (!active_) return;
    auto r = conn_.query("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')");
    saved_lock_ = r.rows.at(0).at(0).text;
    saved_statement_ = r.rows.at(0).at(1).text;
    if (!lock_timeout.empty()) conn_.set("lock_timeout", lock_timeout);
    if (!statement_timeout.empty()) conn_.set("statement_timeout", statement_timeout);
  }
  ~SessionTimeouts() {
    if (!active_) return;
    try {
      conn_.set("lock_timeout", saved_lock_);
      conn_.set("statement_timeout", saved_statement_);
    } catch (...) {
      // The session is gone with its settings.
    }
  }
  SessionTimeouts(const SessionTimeouts&) = delete;
  SessionTimeouts& operator=(const SessionTimeouts&) = delete;

 private:
  db::Connection& conn_;
  bool active_;
  std::string saved_lock_, saved_statement_;
};

// Runs the pending migrations for real inside ONE transaction (later migrations build on
// earlier ones), timing each, then rolls everything back. Migrations that cannot run in a
// transaction are skipped and said so. The session stays read-only by default; only this
// transaction is opened READ WRITE.
// Sequences are not transactional: a rehearsal's nextval() (an INSERT into a serial column)
// survives its ROLLBACK. Their values before, to put back afterwards.
struct SequenceValue {
  std::string name;              // quoted, schema-qualified
  std::optional<long long> last; // nullopt: never called (or not readable)
  long long start = 1;
};

std::vector<SequenceValue> read_sequences(db::Connection& conn) {
  std::vector<SequenceValue> out;
  auto r = conn.query("SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value, start_value"
                      " FROM pg_sequences ORDER BY 1");
  for (const auto& row : r.rows) {
    SequenceValue v;
    v.name = row[0].text;
    if (row[1].type != db::CellType::null) v.last = row[1].integer;
    v.start = row[2].integer;
    out.push_back(std::move(v));
  }
  return out;
}

// Puts back each sequence the rehearsal advanced, only if it still holds the value the
// rehearsal left (compare-and-set: a value another session took since is never rewound).
// Returns what it did, for the run's output; never throws.
std::vector<std::string> restore_sequences(db::Connection& conn, const std::vector<SequenceValue>& before,
                                           const std::vector<SequenceValue>& after) {
  std::vector<std::string> notes;
  try {
    // The rehearsal's session is read-only outside its own READ WRITE transaction.
    conn.run_script("BEGIN READ WRITE");
    struct End {
      db::Connection& c;
      ~End() {
        try { c.run_script("COMMIT"); } catch (...) {}
      }
    } end{conn};
    std::size_t restored = 0;
    for (const auto& a : after) {
      const auto b = std::find_if(before.begin(), before.end(), [&](const SequenceValue& v) { return v.name == a.name; });
      if (b == before.end() || b->last == a.last || !a.last) continue;  // new in the rehearsal (rolled back) or unmoved
      const std::string target = b->last ? std::to_string(*b->last) + ", true" : std::to_string(b->start) + ", false";
      auto r = conn.query("SELECT setval(" + conn.quote(a.name) + "::regclass, " + target + ") FROM " + a.name +
                          " WHERE last_value = " + std::to_string(*a.last));
      if (r.rows.empty())
        notes.push_back("sequence " + a.name + " was advanced by another session during the rehearsal; it is left as it is");
      else
        ++restored;
    }
    if (restored) notes.push_back(std::to_string(restored) + " sequence(s) the rehearsal advanced were put back");
  } catch (const std::exception& e) {
    notes.push_back(std::string("could not put back the sequences the rehearsal advanced: ") + e.what());
  }
  return notes;
}

void rehearse_migrations(db::Connection& conn, const std::vector<PlannedMigration>& todo, const ApplyOptions& o,
                         const ApplyObserver& obs, ApplyResult& result) {
  struct Rollback {
    db::Connection& c;
    std::vector<SequenceValue> before;
    std::optional<std::vector<SequenceValue>> after;  // read inside the rehearsal when it succeeded
    const ApplyObserver& obs;
    ~Rollback() {
      try {
        c.run_script("ROLLBACK");
      } catch (...) {
        return;  // the session is gone, and its transaction with it
      }
      try {
        const auto now = after ? *after : read_sequences(c);
        for (const auto& note : restore_sequences(c, before, now))
          if (obs.notice) obs.notice(note);
      } catch (...) {
      }
    }
  };
  const auto sequences_before = read_sequences(conn);
  // On its own: READ WRITE must be the first thing in the transaction, and a batch may
  // be preceded by the pipeline's own query.
  conn.run_script("BEGIN READ WRITE");
  Rollback rollback{conn, sequences_before, std::nullopt, obs};
  std::vector<std::string> prologue = transaction_prologue(conn, o.lock_timeout, o.statement_timeout);
  prologue.erase(prologue.begin());  // BEGIN was sent
  db::SqlFailure failure;
  if (!prologue.empty() && conn.run_batch(prologue, failure) >= 0)
    throw StepError("cannot start the rehearsal: " + failure.message);
  int skipped = 0;
  for (std::size_t i = 0; i < todo.size(); ++i) {
    const PlannedMigration& m = todo[i];
    if (cancelled(obs)) throw AbortError("rehearsal interrupted before " + m.name + "; nothing was changed");
    const sql::Script& script = m.script;
    if (obs.starting) obs.starting(m, i, todo.size());
    MigrationOutcome out{m.name, m.version, m.sha256, "rehearsed", 0, !script.needs_no_transaction, 0};
    if (script.needs_no_transaction || script.manages_own_transaction) {
      out.status = script.manages_own_transaction ? "not rehearsed (manages its own transaction)"
                                                  : "not rehearsed (cannot run inside a transaction)";
      ++skipped;
    } else {
      std::vector<std::string> batch;
      for (const auto& s : script.statements) batch.push_back(s.text);
      const auto start = Clock::now();
      const int failed = conn.run_batch(batch, failure);
      out.ms = ms_since(start);
      if (failed >= 0) {
        if (cancelled(obs))
          throw AbortError("rehearsal cancelled by the operator (^C) during " + m.name + "; nothing was changed");
        const auto& st = script.statements[static_cast<std::size_t>(failed)];
        throw StepError("rehearsal of migration " + m.name + " failed at statement " + std::to_string(failed + 1) +
                        " of " + std::to_string(script.statements.size()) + " (" +
                        sql::position_in_file(st, failure.position) + "): " + failure.explained() + "\n    " + excerpt(st.text) +
                        (skipped ? "\n  (" + std::to_string(skipped) + " earlier migration(s) could not be rehearsed and were skipped)" : "") +
                        "\n  Nothing was changed: the rehearsal was rolled back.");
      }
    }
    result.migrations.push_back(out);
    if (obs.finished) obs.finished(out);
  }
  rollback.after = read_sequences(conn);
}

}  // namespace

void acquire_lock(db::Connection& conn, std::int64_t key, double wait_s, const ApplyObserver& obs) {
  const auto start = Clock::now();
  auto last_report = start - std::chrono::hours(1);
  std::string holder;
  while (!conn.try_advisory_lock(key)) {
    holder = lock_holder(conn, key);
    if (ms_since(start) >= wait_s * 1000)
      throw AbortError("another runner holds the migration lock" + (holder.empty() ? "" : ": " + holder) +
                       "; gave up after " + std::to_string(static_cast<int>(wait_s)) +
                       " s (raise lock_wait to wait longer)");
    if (obs.waiting_for_lock && Clock::now() - last_report >= std::chrono::seconds(10)) {
      obs.waiting_for_lock("waiting for the migration lock held by " + (holder.empty() ? "another session" : holder));
      last_report = Clock::now();
    }
    if (cancelled(obs)) throw AbortError("interrupted (" + cancel::reason() + ") while waiting for the migration lock; nothing was changed");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

LedgerLock::LedgerLock(db::Connection& conn, const Ledger& ledger, bool take, double wait_s, const ApplyObserver& obs)
    : conn_(conn), key_(ledger.lock_key()), held_(false) {
  if (!take) return;
  acquire_lock(conn_, key_, wait_s, obs);
  held_ = true;
  if (const auto tool_key = ledger.tool_lock_key()) {
    try {
      acquire_lock(conn_, *tool_key, wait_s, obs);
    } catch (...) {
      conn_.advisory_unlock(key_);
      held_ = false;
      throw;
    }
    tool_key_ = *tool_key;
    tool_held_ = true;
  }
}

LedgerLock::~LedgerLock() {
  try {
    if (tool_held_ && conn_.is_open()) conn_.advisory_unlock(tool_key_);
    if (held_ && conn_.is_open()) conn_.advisory_unlock(key_);
  } catch (...) {
    // Ending the session releases them anyway.
  }
}

namespace {

// Under the lock: the ledger must be the one the plan was computed against.
Status check_ledger_unchanged(Ledger& ledger, const Chain& chain, const Plan& plan) {
  const auto rows = ledger.read();
  if (ledger_fingerprint(rows) != plan.ledger_fingerprint)
    throw AbortError("the ledger " + plan.ledger + " changed since this run's plan was made (" +
                     std::to_string(plan.ledger_rows) + " row(s) then, " + std::to_string(rows.size()) +
                     " now): another run applied, rolled back or resolved something.\n  Nothing was changed by "
                     "this run; run it again to make a new plan.");
  return compute_status(chain, rows);
}

// A migration outside a transaction whose statements all succeeded can still leave an INVALID
// index (CREATE INDEX CONCURRENTLY IF NOT EXISTS finding the invalid leftover of an earlier,
// cut-off run, and skipping it). Such a migration is never recorded applied: it is dirty,
// naming the index and the statement.
void refuse_invalid_indexes(db::Connection& conn, Ledger& ledger, const PlannedMigration& m, const std::string& label,
                            const ApplyOptions& o, MigrationOutcome& out, ApplyResult& result, const ApplyObserver& obs) {
  const auto& statements = m.script.statements;
  for (std::size_t k = 0; k < statements.size(); ++k) {
    const auto& node = statements[k].node;
    const nlohmann::json* relation = nullptr;
    if (node.contains("IndexStmt")) relation = &node["IndexStmt"]["relation"];
    else if (node.contains("ReindexStmt") && node["ReindexStmt"].contains("relation"))
      relation = &node["ReindexStmt"]["relation"];
    if (!relation || !relation->contains("relname")) continue;
    const std::string table = relation->value("relname", "");
    const std::string schema = relation->value("schemaname", "");
    auto r = conn.query(
        "SELECT i.indexrelid::regclass::text FROM pg_index i WHERE NOT i.indisvalid AND i.indrelid = "
        "to_regclass(CASE WHEN $1 = '' THEN quote_ident($2) ELSE quote_ident($1) || '.' || quote_ident($2) END) "
        "ORDER BY 1",
        {schema, table});
    if (r.rows.empty()) continue;
    std::string names;
    for (const auto& row : r.rows) names += (names.empty() ? "" : ", ") + row[0].text;
    const std::string why = "left INVALID index(es) " + names + " on " + (schema.empty() ? "" : schema + ".") + table;
    ledger.record_dirty(m.name, m.version, m.sha256, static_cast<long long>(out.ms), o.applied_by, o.run_id,
                        static_cast<int>(statements.size()), static_cast<int>(k + 1), why);
    out.status = "dirty";
    result.migrations.push_back(out);
    if (obs.finished) obs.finished(out);
    throw StepError(label + ": statement " + std::to_string(k + 1) + " (line " + std::to_string(statements[k].line) +
                    ") " + why + "\n    " + excerpt(statements[k].text) +
                    "\n  The ledger marks it dirty, not applied. Drop the index (DROP INDEX CONCURRENTLY " +
                    r.rows[0][0].text + ") or finish it (REINDEX INDEX CONCURRENTLY " + r.rows[0][0].text +
                    "), then resolve the migration as applied or rolled back.");
  }
}

// After the connection was lost during `m`: what happened, and what a new session finds in the
// ledger for it (the server may still be restarting: a few tries, ^C stops them).
std::string lost_connection_report(const db::Connection& conn, const LedgerName& name, const Chain& chain,
                                   const PlannedMigration& m, const std::string& what) {
  std::string first = what.substr(0, what.find('\n'));
  std::string msg = "the connection to the server was lost during migration " + m.name + ": " + first;
  if (what.find(m.name) != std::string::npos && what.find('\n') != std::string::npos)
    msg += "\n  " + what.substr(what.find('\n') + 1);
  std::string last_error;
  for (int attempt = 0; attempt < 15; ++attempt) {
    if (attempt > 0 && !cancel::sleep_for(1.0)) break;
    try {
      db::Connection check(conn.options());
      Ledger fresh(check, name, &chain);
      const auto rows = fresh.read();
      const LedgerRow* row = nullptr;
      for (const auto& r : rows)
        if (r.filename == m.name) row = &r;
      if (!row)
        return msg + "\n  Checked in a new session: " + m.name + " is not in the ledger " + name.qualified() +
               (m.tx == TxMode::transactional
                    ? ", so the server rolled it back whole; the migrations before it are committed. Run the apply again."
                    : ". It runs outside a transaction: check what its statements left before applying again.");
      if (row->status == "applied")
        return msg + "\n  Checked in a new session: " + m.name + " was committed and is recorded applied.";
      return msg + "\n  Checked in a new session: " + m.name + " is recorded " + row->status + " (statement " +
             std::to_string(row->failed_statement) + " may be partial, " + std::to_string(row->statements_done) +
             " completed); apply refuses it until it is repaired and resolved.";
    } catch (const std::exception& e) {
      last_error = e.what();
    }
  }
  return msg + "\n  Could not open a new session to check what committed (" + last_error.substr(0, last_error.find('\n')) +
         "); when the server is back, `runbook apply.lua --dry-run` shows what is applied.";
}

void refuse_unmet(const Plan& plan, const Consent& consent, bool live, const char* verb) {
  auto unmet = unmet_requirements(plan, consent);
  if (!live) {
    // A rehearsal takes real locks: it needs the confirmation, nothing else.
    unmet.erase(std::remove_if(unmet.begin(), unmet.end(),
                               [](const std::string& u) { return u.rfind("confirmation", 0) != 0; }),
                unmet.end());
  }
  if (unmet.empty()) return;
  std::string msg = std::string("refusing to ") + verb + " " + std::to_string(plan.migrations.size()) +
                    " migration(s): this run has not met the plan's requirements:";
  for (const auto& u : unmet) msg += "\n  - " + u;
  msg += "\n  Nothing was changed.";
  throw AbortError(msg);
}

}  // namespace

ApplyResult apply(db::Connection& conn, Ledger& ledger, const Chain& chain, const Plan& plan, const Consent& consent,
                  const ApplyOptions& o, const ApplyObserver& obs) {
  if (plan.kind != PlanKind::apply) throw ConfigError("migrations.apply needs an apply plan, got a rollback plan");
  const bool live = changes_allowed(o.mode);
  const bool rehearse = o.mode == RunMode::rehearse;
  // A rehearsal holds the lock too: a runner applying meanwhile would make it meaningless.
  LedgerLock lock(conn, ledger, live || rehearse, o.lock_wait_s, obs);

  if (live && !plan.empty()) ledger.ensure();
  ApplyResult result;
  result.before = check_ledger_unchanged(ledger, chain, plan);

  if (!plan.status.parity_pass() && !plan.options.allow_drift) {
    std::string msg = "refusing to apply: the database has drifted from the migrations in " + chain.directory;
    for (const auto& line : plan.drift) msg += "\n  - " + line;
    msg += "\n  Resolve the drift first (or set allow_drift to override deliberately).";
    throw VerifyError(msg);
  }
  // The run's own ephemeral cluster holds nobody's data: nothing there needs consent.
  if ((live || rehearse) && !conn.options().private_cluster) refuse_unmet(plan, consent, live, rehearse ? "rehearse" : "apply");

  if (rehearse) {
    rehearse_migrations(conn, plan.migrations, o, obs, result);
    return result;
  }

  const auto& todo = plan.migrations;
  std::unique_ptr<EffectsRecorder> effects;
  if (live && o.record_effects && !todo.empty()) {
    std::vector<std::string> ledgers{ledger.name().qualified()};
    if (!ledger.name().tool_table.empty()) ledgers.push_back(ledger.name().tool_table);
    effects = std::make_unique<EffectsRecorder>(conn, ledgers);
  }
  std::unique_ptr<Heartbeat> heartbeat;
  if (live && obs.heartbeat && !todo.empty()) heartbeat = std::make_unique<Heartbeat>(conn, obs.heartbeat, kFirstBeat, kBeatEvery);
  for (std::size_t i = 0; i < todo.size(); ++i) {
    const PlannedMigration& m = todo[i];
    if (cancelled(obs))
      throw AbortError("interrupted (" + cancel::reason() + ") before " + m.name + "; " + std::to_string(i) +
                       " migration(s) of this run are committed, " + std::to_string(todo.size() - i) + " not started");
    const sql::Script& script = m.script;
    const char* done = conn.options().private_cluster ? "rehearsed" : "applied";  // a shadow is not the target
    MigrationOutcome out{m.name, m.version, m.sha256, live ? done : "would apply", 0, m.tx != TxMode::no_transaction, 0};
    if (obs.starting) obs.starting(m, i, todo.size());
    if (!live) {
      if (obs.would_run) obs.would_run(m, plan_text(script, m.path, "records it in the ledger"));
      result.migrations.push_back(out);
      if (obs.finished) obs.finished(out);
      continue;
    }
    if (effects) effects->begin(m.tx != TxMode::transactional);
    Heartbeat::Scope beating(heartbeat.get(), m.name);
    const auto start = Clock::now();
    const std::string label = "migration " + m.name;
    MigrationFailure site = site_of(m);
    try {
    if (m.tx == TxMode::own) {
      // Statement by statement, as psql runs it: what its own COMMITs made permanent is known
      // at every point, so a failure after one of them is recorded dirty with how far it got.
      SessionTimeouts timeouts(conn, o.lock_timeout, o.statement_timeout);
      const auto n = script.statements.size();
      std::size_t committed = 0;  // statements [0, committed) are permanent
      bool in_block = false;
      ledger.record_running(m.name, m.version, m.sha256, o.applied_by, o.run_id);
      for (std::size_t k = 0; k < n; ++k) {
        const auto& stmt = script.statements[k];
        try {
          // The locks of the file's own transaction, read before its COMMIT.
          if (effects && in_block && stmt.closes_block) conn.run_script(effects->capture_sql());
          conn.run_script(stmt.text);
        } catch (const std::exception& e) {
          if (!conn.is_open()) throw;  // the session is gone: its running row says how far it got
          const auto f = db::failure_of(e);
          locate(site, script, k, f);
          if (in_block) {
            try { conn.run_script("ROLLBACK"); } catch (const std::exception&) {}
          }
          const bool stopped = cancelled(obs);
          std::string message = label + (stopped ? " was cancelled by the operator (" + cancel::reason() + ")" : std::string(" failed")) +
                                " at statement " + std::to_string(k + 1) + " of " + std::to_string(n) + " (" +
                                sql::position_in_file(stmt, f.position) + "): " + f.explained() + "\n    " + excerpt(stmt.text);
          if (committed == 0) {
            {
              cancel::Shield keep_bookkeeping;
              ledger.forget_running(m.name);
            }
            message += "\n  The file manages its own transaction; nothing it ran was committed, and no ledger row is recorded.";
          } else {
            out.ms = ms_since(start);
            {
              cancel::Shield keep_bookkeeping;
              ledger.record_dirty(m.name, m.version, m.sha256, static_cast<long long>(out.ms), o.applied_by, o.run_id,
                                  static_cast<int>(committed), static_cast<int>(k + 1), f.message);
            }
            out.status = "dirty";
            result.migrations.push_back(out);
            if (obs.finished) obs.finished(out);
            message += "\n  The file manages its own transactions: statements 1-" + std::to_string(committed) +
                       " were committed before it failed and stay applied. The ledger marks it dirty; repair by hand, "
                       "then resolve it as applied or rolled back before applying again.";
          }
          if (stopped) throw AbortError(message);
          throw StepError(message);
        }
        if (stmt.opens_block) in_block = true;
        if (stmt.closes_block) in_block = false;
        if (!in_block) {
          committed = k + 1;
          cancel::Shield keep_bookkeeping;
          ledger.record_progress(m.name, static_cast<int>(committed));
        }
      }
      out.ms = ms_since(start);
      cancel::Shield keep_bookkeeping;  // committed: its ledger row must be written
      refuse_invalid_indexes(conn, ledger, m, label, o, out, result, obs);
      ledger.record_applied(m.name, m.version, m.sha256, static_cast<long long>(out.ms), o.applied_by, o.run_id);
    } else if (m.tx == TxMode::no_transaction) {
      SessionTimeouts timeouts(conn, o.lock_timeout, o.statement_timeout);
      const auto n = script.statements.size();
      // Committed before the first statement: a run killed in the middle leaves this behind.
      ledger.record_running(m.name, m.version, m.sha256, o.applied_by, o.run_id);
      for (std::size_t k = 0; k < n; ++k) {
        const auto& stmt = script.statements[k];
        try {
          if (effects) effects->expect_lock(stmt.node);
          conn.run_script(stmt.text);
        } catch (const std::exception& e) {
          if (!conn.is_open()) throw;  // the session is gone: its running row says how far it got
          const auto f = db::failure_of(e);
          locate(site, script, k, f);
          out.ms = ms_since(start);
          {
            cancel::Shield keep_bookkeeping;
            ledger.record_dirty(m.name, m.version, m.sha256, static_cast<long long>(out.ms), o.applied_by, o.run_id,
                                static_cast<int>(k), static_cast<int>(k + 1), f.message);
          }
          out.status = "dirty";
          result.migrations.push_back(out);
          if (obs.finished) obs.finished(out);
          const bool stopped = cancelled(obs);
          const std::string message =
              label + (stopped ? " was cancelled by the operator (" + cancel::reason() + ")" : std::string(" failed")) +
              " at statement " + std::to_string(k + 1) + " of " + std::to_string(n) + " (line " +
              std::to_string(stmt.line) + "): " + f.explained() + "\n    " + excerpt(stmt.text) +
              "\n  It runs outside a transaction, so " + std::to_string(k) +
              " statement(s) before it stay applied. The ledger marks it dirty; repair by hand "
              "(e.g. DROP INDEX CONCURRENTLY an invalid index), then resolve it as applied or "
              "rolled back before applying again.";
          if (stopped) throw AbortError(message);
          throw StepError(message);
        }
        if (k + 1 < n) {
          cancel::Shield keep_bookkeeping;
          ledger.record_progress(m.name, static_cast<int>(k + 1));
        }
      }
      out.ms = ms_since(start);
      cancel::Shield keep_bookkeeping;  // every statement committed: record it whatever ^C says
      refuse_invalid_indexes(conn, ledger, m, label, o, out, result, obs);
      ledger.record_applied(m.name, m.version, m.sha256, static_cast<long long>(out.ms), o.applied_by, o.run_id);
    } else {
      auto ledger_sql = ledger.insert_applied_sql(m.name, m.version, m.sha256, o.applied_by, o.run_id, true);
      if (effects) ledger_sql.push_back(effects->capture_sql());  // its locks, read before COMMIT
      run_transactional(conn, label, script, ledger_sql, o.lock_timeout, o.statement_timeout, o.lock_retries, o.retry_backoff_s, obs, out.retries, site);
      out.ms = ms_since(start);
    }
    } catch (const std::exception& e) {
      const std::string status = out.status == "dirty" ? "dirty" : cancelled(obs) ? "cancelled" : "failed";
      if (conn.is_open()) {
        report_failure(obs, site, status, e.what());
        throw;
      }
      // The session is gone (backend terminated, server restarted, network): say so, and what
      // a fresh session finds committed, instead of libpq's "not connected".
      const std::string message = lost_connection_report(conn, ledger.name(), chain, m, e.what());
      report_failure(obs, site, status, message);
      if (cancelled(obs)) throw AbortError(message);
      throw StepError(message);
    }
    if (effects) out.effects = effects->end();
    result.migrations.push_back(out);
    if (obs.finished) obs.finished(out);
  }
  return result;
}

ApplyResult apply(db::Connection& conn, Ledger& ledger, const Chain& chain, const ApplyOptions& o,
                  const ApplyObserver& obs) {
  // For C++ callers that decide policy themselves (the engine's tests): a plan with no
  // requirements, computed now, met by this call.
  PlanOptions po;
  po.target = o.target;
  po.allow_drift = o.allow_drift;
  po.server_version = o.server_version;
  const Plan plan = make_plan(chain, ledger.read(), ledger.name().qualified(), po, Policy{});
  Consent consent;
  consent.confirmed = true;
  return apply(conn, ledger, chain, plan, consent, o, obs);
}

ApplyResult rollback(db::Connection& conn, Ledger& ledger, const Chain& chain, const Plan& plan,
                     const Consent& consent, const RollbackOptions& o, const ApplyObserver& obs) {
  if (plan.kind != PlanKind::rollback) throw ConfigError("migrations.rollback needs a rollback plan, got an apply plan");
  const bool live = changes_allowed(o.mode);
  LedgerLock lock(conn, ledger, live, o.lock_wait_s, obs);

  if (!plan.missing_down.empty()) {
    std::string names;
    for (const auto& n : plan.missing_down) names += "\n  - " + n;
    throw ConfigError("cannot roll back with down scripts: these migrations have none" + names +
                      "\n  Restore from the backup instead, or write a forward fix.");
  }
  ApplyResult result;
  result.before = check_ledger_unchanged(ledger, chain, plan);
  if (live) refuse_unmet(plan, consent, true, "roll back");
  const auto& todo = plan.migrations;
  std::unique_ptr<Heartbeat> heartbeat;
  if (live && obs.heartbeat && !todo.empty()) heartbeat = std::make_unique<Heartbeat>(conn, obs.heartbeat, kFirstBeat, kBeatEvery);
  for (std::size_t i = 0; i < todo.size(); ++i) {
    const PlannedMigration& m = todo[i];
    if (live && cancelled(obs))
      throw AbortError("interrupted (" + cancel::reason() + ") before the down script of " + m.name + "; " +
                       std::to_string(i) + " of " + std::to_string(todo.size()) +
                       " migration(s) are rolled back, the rest are still applied");
    const sql::Script& script = m.script;
    MigrationOutcome out{m.name, m.version, m.sha256, live ? "rolled back" : "would roll back", 0,
                         m.tx == TxMode::transactional, 0};
    if (obs.starting) obs.starting(m, i, todo.size());
    if (!live) {
      if (obs.would_run) obs.would_run(m, plan_text(script, m.path, "deletes its ledger row"));
    } else {
      Heartbeat::Scope beating(heartbeat.get(), "the down script of " + m.name);
      const auto start = Clock::now();
      const std::string label = "down script of " + m.name;
      MigrationFailure site = site_of(m);
      try {
        if (m.tx != TxMode::transactional) {
          for (std::size_t k = 0; k < script.statements.size(); ++k) {
            const auto& stmt = script.statements[k];
            try {
              conn.run_script(stmt.text);
            } catch (const std::exception& e) {
              const auto f = db::failure_of(e);
              locate(site, script, k, f);
              throw StepError(label + " failed (line " + std::to_string(stmt.line) + "): " + f.explained() +
                              "\n    " + excerpt(stmt.text) + "\n  The ledger still lists the migration as applied.");
            }
          }
          cancel::Shield keep_bookkeeping;
          ledger.remove(m.name);
        } else {
          int retries = 0;
          run_transactional(conn, label, script, ledger.delete_sql(m.name), o.lock_timeout, o.statement_timeout, 3,
                            1, obs, retries, site);
        }
      } catch (const std::exception& e) {
        report_failure(obs, site, cancelled(obs) ? "cancelled" : "failed", e.what());
        throw;
      }
      out.ms = ms_since(start);
    }
    result.migrations.push_back(out);
    if (obs.finished) obs.finished(out);
  }
  return result;
}

ApplyResult rollback(db::Connection& conn, Ledger& ledger, const Chain& chain, const RollbackOptions& o,
                     const ApplyObserver& obs) {
  PlanOptions po;
  po.kind = PlanKind::rollback;
  po.count = o.count;
  po.to = o.to;
  po.server_version = conn.server_version();
  const Plan plan = make_plan(chain, ledger.read(), ledger.name().qualified(), po, Policy{});
  Consent consent;
  consent.confirmed = true;
  return rollback(conn, ledger, chain, plan, consent, o, obs);
}

}  // namespace rb::migrations
