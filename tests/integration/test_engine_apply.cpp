// The migration engine (rb::migrations::apply/rollback/resolve/baseline) against the real
// PostgreSQL server that scripts/test starts. Each TEST_CASE works in its own database.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/apply.hpp"
#include "engine/chain.hpp"
#include "engine/db.hpp"
#include "engine/errors.hpp"
#include "engine/ledger.hpp"
#include "engine/repair.hpp"
#include "engine/status.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using rb::RunMode;
using rb::db::Connection;
using rb::db::ConnectOptions;
using namespace rb::migrations;

namespace {

void require_server() {
  const char* host = std::getenv("PGHOST");
  if (host == nullptr || *host == '\0')
    FAIL("PGHOST is not set: the engine integration tests need the real PostgreSQL server that "
         "scripts/test starts. Run them through scripts/test (it exports PGHOST, PGPORT, PGUSER).");
}

std::unique_ptr<Connection> connect_to(const std::string& dbname, const std::string& app = "rb-engine-test",
                                       const std::string& lock_timeout = "", const std::string& statement_timeout = "") {
  ConnectOptions o;
  o.conninfo = "dbname=" + dbname;
  o.application_name = app;
  o.lock_timeout = lock_timeout;
  o.statement_timeout = statement_timeout;
  return std::make_unique<Connection>(o);
}

std::string unique_suffix() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d_%d_%06x", static_cast<int>(getpid()), counter++, rd() & 0xffffffu);
  return buf;
}

// CREATE DATABASE rb_engine_<unique> on construction, DROP on destruction.
struct TestDb {
  std::string name;
  TestDb() {
    require_server();
    name = "rb_engine_" + unique_suffix();
    auto admin = connect_to("postgres", "rb-engine-test-admin");
    admin->run_script("CREATE DATABASE " + admin->quote_name(name));
  }
  ~TestDb() {
    try {
      auto admin = connect_to("postgres", "rb-engine-test-admin");
      admin->run_script("DROP DATABASE IF EXISTS " + admin->quote_name(name) + " WITH (FORCE)");
    } catch (...) {
    }
  }
};

using rbtest::TempDir;

long long int_of(Connection& c, const std::string& sql) {
  auto r = c.query(sql);
  REQUIRE(r.rows.size() == 1);
  REQUIRE(r.rows[0].at(0).type == rb::db::CellType::integer);
  return r.rows[0][0].integer;
}

std::string text_of(Connection& c, const std::string& sql) {
  auto r = c.query(sql);
  REQUIRE(r.rows.size() == 1);
  return r.rows[0].at(0).text;
}

bool bool_of(Connection& c, const std::string& sql) {
  auto r = c.query(sql);
  REQUIRE(r.rows.size() == 1);
  REQUIRE(r.rows[0].at(0).type == rb::db::CellType::boolean);
  return r.rows[0][0].boolean;
}

bool relation_exists(Connection& c, const std::string& name) {
  return c.query("SELECT to_regclass($1) IS NOT NULL", {name}).rows.at(0).at(0).boolean;
}

// Ledger filenames straight from the table, oldest name first.
std::vector<std::string> ledger_names(Connection& c) {
  std::vector<std::string> out;
  if (!relation_exists(c, "public.schema_migrations")) return out;
  for (const auto& row : c.query("SELECT filename FROM public.schema_migrations ORDER BY filename").rows)
    out.push_back(row.at(0).text);
  return out;
}

ApplyOptions live_options(const std::string& run_id = "run-" + unique_suffix()) {
  ApplyOptions o;
  o.run_id = run_id;
  o.applied_by = "engine-test@host";
  o.lock_wait_s = 10;
  o.retry_backoff_s = 0.1;
  return o;
}

template <class E>
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected another error type, got: " << e.what());
  }
  FAIL("expected an exception, nothing was thrown");
  return "";
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The test's database, a scratch chain directory, and a connection to the database.
struct Fixture {
  TestDb db;
  TempDir dir;
  std::unique_ptr<Connection> conn = connect_to(db.name);
  Chain load() const { return load_chain(dir.str()); }
};

}  // namespace

TEST_CASE("engine apply: runs every migration in version order and records each in the ledger", "[engine][apply]") {
  Fixture f;
  f.conn->run_script("CREATE TABLE run_log (n serial PRIMARY KEY, what text)");
  // 2 before 10: text order would run 10_ before 2_.
  const fs::path p1 = f.dir.write("1_create_t.sql",
                                  "CREATE TABLE t (id int PRIMARY KEY, v text);\nINSERT INTO run_log (what) VALUES ('1');\n");
  const fs::path p2 = f.dir.write("2_insert.sql",
                                  "INSERT INTO t VALUES (1, 'one');\nSELECT pg_sleep(0.06);\n"
                                  "INSERT INTO run_log (what) VALUES ('2');\n");
  const fs::path p10 = f.dir.write("10_add_col.sql",
                                   "ALTER TABLE t ADD COLUMN w int;\nINSERT INTO run_log (what) VALUES ('10');\n");
  const Chain chain = f.load();
  Ledger ledger(*f.conn);
  const ApplyOptions opts = live_options();

  std::vector<std::string> started, finished;
  std::vector<std::size_t> totals;
  ApplyObserver obs;
  obs.starting = [&](const rb::migrations::PlannedMigration& m, std::size_t i, std::size_t total) {
    started.push_back(m.name + "#" + std::to_string(i));
    totals.push_back(total);
  };
  obs.finished = [&](const MigrationOutcome& o) { finished.push_back(o.name + ":" + o.status); };

  const ApplyResult res = apply(*f.conn, ledger, chain, opts, obs);
  REQUIRE(res.migrations.size() == 3);
  CHECK(res.migrations[0].name == "1_create_t.sql");
  CHECK(res.migrations[1].name == "2_insert.sql");
  CHECK(res.migrations[2].name == "10_add_col.sql");
  for (const auto& o : res.migrations) {
    CHECK(o.status == "applied");
    CHECK(o.transactional);
    CHECK(o.retries == 0);
  }
  CHECK(res.before.pending.size() == 3);
  CHECK(started == std::vector<std::string>{"1_create_t.sql#0", "2_insert.sql#1", "10_add_col.sql#2"});
  CHECK(totals == std::vector<std::size_t>{3, 3, 3});
  CHECK(finished == std::vector<std::string>{"1_create_t.sql:applied", "2_insert.sql:applied", "10_add_col.sql:applied"});

  // The effects happened, in order.
  std::vector<std::string> log;
  for (const auto& r : f.conn->query("SELECT what FROM run_log ORDER BY n").rows) log.push_back(r.at(0).text);
  CHECK(log == std::vector<std::string>{"1", "2", "10"});
  CHECK(int_of(*f.conn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'w'") == 1);

  // One ledger row per migration, read straight from the table.
  auto rows = f.conn->query(
      "SELECT filename, version, sha256, status, execution_ms, applied_by, run_id, applied_at IS NOT NULL"
      " FROM public.schema_migrations ORDER BY version::int");
  REQUIRE(rows.rows.size() == 3);
  const std::vector<std::pair<std::string, fs::path>> expect = {{"1_create_t.sql", p1}, {"2_insert.sql", p2}, {"10_add_col.sql", p10}};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& r = rows.rows[i];
    INFO(expect[i].first);
    CHECK(r[0].text == expect[i].first);
    CHECK(r[1].text == version_of(expect[i].first));
    CHECK(r[2].text == rbtest::sha256sum(expect[i].second));
    CHECK(r[3].text == "applied");
    REQUIRE(r[4].type == rb::db::CellType::integer);  // not NULL
    CHECK(r[4].integer >= 0);
    CHECK(r[5].text == opts.applied_by);
    CHECK(r[6].text == opts.run_id);
    CHECK(r[7].boolean);
  }
  // The server timed the migration that sleeps 60 ms.
  CHECK(rows.rows[1][4].integer >= 60);

  // The ledger reader agrees, and the chain is now up to date.
  const auto read = ledger.read();
  CHECK(read.size() == 3);
  CHECK(compute_status(chain, read).up_to_date());

  SECTION("a second apply applies nothing") {
    const ApplyResult again = apply(*f.conn, ledger, chain, live_options());
    CHECK(again.migrations.empty());
    CHECK(again.before.up_to_date());
    CHECK(int_of(*f.conn, "SELECT count(*) FROM run_log") == 3);
    CHECK(int_of(*f.conn, "SELECT count(*) FROM public.schema_migrations") == 3);
    // The first run's record is untouched.
    CHECK(int_of(*f.conn, "SELECT count(*) FROM public.schema_migrations WHERE run_id = " + f.conn->quote(opts.run_id)) == 3);
  }
  SECTION("a new file is applied on its own") {
    f.dir.write("11_more.sql", "INSERT INTO run_log (what) VALUES ('11');\n");
    const ApplyResult again = apply(*f.conn, ledger, f.load(), live_options());
    REQUIRE(again.migrations.size() == 1);
    CHECK(again.migrations[0].name == "11_more.sql");
    CHECK(int_of(*f.conn, "SELECT count(*) FROM run_log") == 4);
  }
  // The advisory lock is released after apply.
  auto other = connect_to(f.db.name, "rb-engine-test-other");
  CHECK(other->try_advisory_lock(ledger.lock_key()));
  other->advisory_unlock(ledger.lock_key());
}

TEST_CASE("engine apply: a target stops at a version", "[engine][apply]") {
  Fixture f;
  f.dir.write("0001_a.sql", "CREATE TABLE a (id int);\n");
  f.dir.write("0002_b.sql", "CREATE TABLE b (id int);\n");
  f.dir.write("0003_c.sql", "CREATE TABLE c (id int);\n");
  const Chain chain = f.load();
  Ledger ledger(*f.conn);

  ApplyOptions o = live_options();
  o.target = "2";  // by version, numerically
  const ApplyResult res = apply(*f.conn, ledger, chain, o);
  REQUIRE(res.migrations.size() == 2);
  CHECK(ledger_names(*f.conn) == std::vector<std::string>{"0001_a.sql", "0002_b.sql"});
  CHECK(relation_exists(*f.conn, "b"));
  CHECK_FALSE(relation_exists(*f.conn, "c"));

  ApplyOptions bad = live_options();
  bad.target = "0099";
  const std::string msg = error_of<rb::ConfigError>([&] { apply(*f.conn, ledger, chain, bad); });
  CHECK(contains(msg, "0099"));
  CHECK_FALSE(relation_exists(*f.conn, "c"));

  ApplyOptions by_name = live_options();
  by_name.target = "0003_c.sql";
  CHECK(apply(*f.conn, ledger, chain, by_name).migrations.size() == 1);
  CHECK(relation_exists(*f.conn, "c"));
  CHECK(ledger_names(*f.conn).size() == 3);
}

TEST_CASE("engine apply: a failing statement rolls its migration back and stops the run", "[engine][apply]") {
  Fixture f;
  f.dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
  f.dir.write("0002_fail.sql",
              "-- inserts, then divides by zero\n"
              "INSERT INTO t VALUES (1);\n"
              "\n"
              "SELECT 1/0;\n"
              "INSERT INTO t VALUES (2);\n");
  f.dir.write("0003_after.sql", "CREATE TABLE after_fail (id int);\n");
  Ledger ledger(*f.conn);

  std::string msg;
  try {
    apply(*f.conn, ledger, f.load(), live_options());
    FAIL("apply should have thrown");
  } catch (const rb::StepError& e) {
    msg = e.what();
    CHECK(e.code() == rb::ExitCode::step_failed);
  }
  INFO(msg);
  CHECK(contains(msg, "0002_fail.sql"));
  CHECK(contains(msg, "statement 2"));
  CHECK(contains(msg, "line 4"));
  CHECK(contains(msg, "division by zero"));

  // The earlier migration stays committed; the failing one left nothing; the run stopped.
  CHECK(ledger_names(*f.conn) == std::vector<std::string>{"0001_t.sql"});
  CHECK(relation_exists(*f.conn, "t"));
  CHECK(int_of(*f.conn, "SELECT count(*) FROM t") == 0);
  CHECK_FALSE(relation_exists(*f.conn, "after_fail"));
  // The session is usable and not left inside a transaction block.
  auto other = connect_to(f.db.name, "rb-engine-test-other");
  const long long pid = int_of(*f.conn, "SELECT pg_backend_pid()");
  CHECK(other->query("SELECT state FROM pg_stat_activity WHERE pid = $1", {std::to_string(pid)}).rows.at(0).at(0).text == "idle");
  CHECK(other->try_advisory_lock(ledger.lock_key()));
  other->advisory_unlock(ledger.lock_key());

  // Fixed file: the run completes.
  f.dir.write("0002_fail.sql", "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\n");
  const ApplyResult res = apply(*f.conn, ledger, f.load(), live_options());
  CHECK(res.migrations.size() == 2);
  CHECK(int_of(*f.conn, "SELECT count(*) FROM t") == 2);
  CHECK(relation_exists(*f.conn, "after_fail"));
}

TEST_CASE("engine apply: drift (an applied file edited) blocks apply unless allow_drift", "[engine][apply]") {
  Fixture f;
  const fs::path p1 = f.dir.write("0001_a.sql", "CREATE TABLE a (id int);\n");
  f.dir.write("0002_b.sql", "CREATE TABLE b (id int);\n");
  Ledger ledger(*f.conn);
  REQUIRE(apply(*f.conn, ledger, f.load(), live_options()).migrations.size() == 2);
  const std::string applied_sha = rbtest::sha256sum(p1);

  f.dir.write("0001_a.sql", "CREATE TABLE a (id bigint);\n");  // edited after being applied
  f.dir.write("0003_c.sql", "CREATE TABLE c (id int);\n");
  const Chain edited = f.load();

  const std::string msg = error_of<rb::VerifyError>([&] { apply(*f.conn, ledger, edited, live_options()); });
  CHECK(contains(msg, "0001_a.sql"));
  CHECK_FALSE(contains(msg, "0002_b.sql"));
  CHECK_FALSE(relation_exists(*f.conn, "c"));
  CHECK(ledger_names(*f.conn).size() == 2);

  ApplyOptions o = live_options();
  o.allow_drift = true;
  const ApplyResult res = apply(*f.conn, ledger, edited, o);
  REQUIRE(res.migrations.size() == 1);
  CHECK(res.migrations[0].name == "0003_c.sql");
  CHECK_FALSE(res.before.parity_pass());
  CHECK(relation_exists(*f.conn, "c"));
  // The ledger still holds what was applied, not the edited file's hash.
  CHECK(text_of(*f.conn, "SELECT sha256 FROM public.schema_migrations WHERE filename = '0001_a.sql'") == applied_sha);
}

TEST_CASE("engine apply: a failed non-transactional migration is dirty until resolved", "[engine][apply]") {
  Fixture f;
  f.dir.write("0001_t.sql", "CREATE TABLE t (id int, v int);\nINSERT INTO t VALUES (1, 1), (2, 1);\n");
  f.dir.write("0002_unique_v.sql",
              "CREATE TABLE side_effect (id int);\n"
              "CREATE UNIQUE INDEX CONCURRENTLY t_v_key ON t (v);\n");
  const Chain chain = f.load();
  Ledger ledger(*f.conn);

  std::vector<MigrationOutcome> outcomes;
  ApplyObserver obs;
  obs.finished = [&](const MigrationOutcome& o) { outcomes.push_back(o); };
  const std::string msg = error_of<rb::StepError>([&] { apply(*f.conn, ledger, chain, live_options(), obs); });
  INFO(msg);
  CHECK(contains(msg, "0002_unique_v.sql"));
  CHECK(contains(msg, "statement 2"));
  CHECK(contains(msg, "line 2"));
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[1].status == "dirty");
  CHECK_FALSE(outcomes[1].transactional);

  // Recorded dirty, with where it failed.
  auto row = f.conn->query(
      "SELECT status, failed_statement, statements_done, error FROM public.schema_migrations"
      " WHERE filename = '0002_unique_v.sql'");
  REQUIRE(row.rows.size() == 1);
  CHECK(row.rows[0][0].text == "dirty");
  CHECK(row.rows[0][1].integer == 2);
  CHECK(row.rows[0][2].integer == 1);
  CHECK(contains(row.rows[0][3].text, "t_v_key"));
  // The first statement stayed; the index was left behind invalid.
  CHECK(relation_exists(*f.conn, "side_effect"));
  CHECK(bool_of(*f.conn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.t_v_key'::regclass") == false);
  const Status st = compute_status(chain, ledger.read());
  REQUIRE(st.dirty.size() == 1);
  CHECK(st.dirty[0].filename == "0002_unique_v.sql");

  // Apply refuses while it is dirty.
  const std::string refused = error_of<rb::VerifyError>([&] { apply(*f.conn, ledger, chain, live_options()); });
  CHECK(contains(refused, "0002_unique_v.sql"));
  CHECK(contains(refused, "dirty"));
  CHECK(contains(refused, "resolve"));

  SECTION("fix the data, undo by hand, resolve rolled-back, apply again") {
    f.conn->run_script("DELETE FROM t WHERE id = 2; DROP INDEX t_v_key; DROP TABLE side_effect");
    const std::string said =
        resolve(*f.conn, ledger, chain, "0002_unique_v.sql", "rolled-back", RunMode::live, "run-resolve", "operator");
    CHECK(contains(said, "0002_unique_v.sql"));
    CHECK(ledger_names(*f.conn) == std::vector<std::string>{"0001_t.sql"});

    const ApplyResult res = apply(*f.conn, ledger, chain, live_options());
    REQUIRE(res.migrations.size() == 1);
    CHECK(res.migrations[0].name == "0002_unique_v.sql");
    CHECK(res.migrations[0].status == "applied");
    CHECK_FALSE(res.migrations[0].transactional);
    CHECK(bool_of(*f.conn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.t_v_key'::regclass"));
    CHECK(text_of(*f.conn, "SELECT status FROM public.schema_migrations WHERE filename = '0002_unique_v.sql'") == "applied");
    CHECK(compute_status(chain, ledger.read()).up_to_date());
  }
  SECTION("finish by hand, resolve applied") {
    f.conn->run_script(
        "DELETE FROM t WHERE id = 2; DROP INDEX t_v_key; CREATE UNIQUE INDEX t_v_key ON t (v)");
    resolve(*f.conn, ledger, chain, "0002", "applied", RunMode::live, "run-resolve", "operator");
    auto r = f.conn->query(
        "SELECT status, failed_statement IS NULL, error IS NULL FROM public.schema_migrations"
        " WHERE filename = '0002_unique_v.sql'");
    REQUIRE(r.rows.size() == 1);
    CHECK(r.rows[0][0].text == "applied");
    CHECK(r.rows[0][1].boolean);
    CHECK(r.rows[0][2].boolean);
    CHECK(apply(*f.conn, ledger, chain, live_options()).migrations.empty());
  }
  SECTION("resolve refuses unknown migrations and states, changing nothing") {
    CHECK_THROWS_AS(resolve(*f.conn, ledger, chain, "0099_nope.sql", "applied", RunMode::live, "r", "o"), rb::ConfigError);
    CHECK_THROWS_AS(resolve(*f.conn, ledger, chain, "0002_unique_v.sql", "done", RunMode::live, "r", "o"), rb::ConfigError);
    const std::string dry = resolve(*f.conn, ledger, chain, "0002_unique_v.sql", "rolled-back", RunMode::dry_run, "r", "o");
    CHECK(contains(dry, "0002_unique_v.sql"));
    CHECK(text_of(*f.conn, "SELECT status FROM public.schema_migrations WHERE filename = '0002_unique_v.sql'") == "dirty");
  }
}

TEST_CASE("engine apply: gives up on another runner's advisory lock and names it", "[engine][apply][lock]") {
  Fixture f;
  f.dir.write("0001_a.sql", "CREATE TABLE a (id int);\n");
  const Chain chain = f.load();
  Ledger ledger(*f.conn);
  const std::string holder_app = "rb-lock-holder-" + std::to_string(getpid());
  auto holder = connect_to(f.db.name, holder_app);
  REQUIRE(holder->try_advisory_lock(ledger.lock_key()));
  CHECK(contains(lock_holder(*f.conn, ledger.lock_key()), holder_app));

  std::vector<std::string> waiting;
  ApplyObserver obs;
  obs.waiting_for_lock = [&](const std::string& m) { waiting.push_back(m); };
  ApplyOptions o = live_options();
  o.lock_wait_s = 1;
  const auto start = std::chrono::steady_clock::now();
  std::string msg;
  try {
    apply(*f.conn, ledger, chain, o, obs);
    FAIL("apply should have thrown");
  } catch (const rb::AbortError& e) {
    msg = e.what();
    CHECK(e.code() == rb::ExitCode::aborted);
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(msg);
  CHECK(contains(msg, holder_app));
  CHECK(waited >= 0.9);
  CHECK(waited < 10);
  REQUIRE_FALSE(waiting.empty());
  CHECK(contains(waiting[0], holder_app));
  // Nothing was changed: not even the ledger table.
  CHECK_FALSE(relation_exists(*f.conn, "public.schema_migrations"));
  CHECK_FALSE(relation_exists(*f.conn, "a"));

  holder->advisory_unlock(ledger.lock_key());
  CHECK(lock_holder(*f.conn, ledger.lock_key()).empty());
  CHECK(apply(*f.conn, ledger, chain, o).migrations.size() == 1);
  CHECK(relation_exists(*f.conn, "a"));
}

TEST_CASE("engine apply: lock_timeout is retried with backoff until the lock is free", "[engine][apply][lock]") {
  Fixture f;
  f.dir.write("0001_t.sql", "CREATE TABLE t (id int);\n");
  Ledger ledger(*f.conn);
  REQUIRE(apply(*f.conn, ledger, f.load(), live_options()).migrations.size() == 1);
  f.dir.write("0002_add_x.sql", "ALTER TABLE t ADD COLUMN x int;\n");
  const Chain chain = f.load();

  auto holder = connect_to(f.db.name, "rb-table-lock-holder");
  holder->run_script("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");

  SECTION("the lock is released while retrying") {
    std::atomic<bool> released{false};
    std::string thread_error;
    std::thread releaser([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      try {
        holder->run_script("ROLLBACK");
      } catch (const std::exception& e) {
        thread_error = e.what();
      }
      released = true;
    });
    std::vector<std::string> retry_msgs;
    ApplyObserver obs;
    obs.retrying = [&](const std::string& m) { retry_msgs.push_back(m); };
    ApplyOptions o = live_options();
    o.lock_timeout = "200ms";
    o.lock_retries = 5;
    o.retry_backoff_s = 0.2;
    ApplyResult res;
    try {
      res = apply(*f.conn, ledger, chain, o, obs);
    } catch (...) {
      releaser.join();
      throw;
    }
    releaser.join();
    CHECK(thread_error.empty());
    CHECK(released);
    REQUIRE(res.migrations.size() == 1);
    CHECK(res.migrations[0].status == "applied");
    CHECK(res.migrations[0].retries > 0);
    CHECK(res.migrations[0].retries <= 5);
    CHECK(retry_msgs.size() == static_cast<std::size_t>(res.migrations[0].retries));
    if (!retry_msgs.empty()) CHECK(contains(retry_msgs[0], "0002_add_x.sql"));
    CHECK(int_of(*f.conn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'x'") == 1);
    CHECK(ledger_names(*f.conn).size() == 2);
  }
  SECTION("without retries the migration fails and leaves nothing") {
    ApplyOptions o = live_options();
    o.lock_timeout = "200ms";
    o.lock_retries = 0;
    const std::string msg = error_of<rb::StepError>([&] { apply(*f.conn, ledger, chain, o); });
    CHECK(contains(msg, "0002_add_x.sql"));
    CHECK(contains(msg, "lock timeout"));
    holder->run_script("ROLLBACK");
    CHECK(int_of(*f.conn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'x'") == 0);
    CHECK(ledger_names(*f.conn) == std::vector<std::string>{"0001_t.sql"});
  }
}

TEST_CASE("engine apply: non-transactional migrations leave the session's timeouts as configured", "[engine][apply]") {
  Fixture f;
  // A session configured with its own timeouts (ConnectOptions), as the CLI does.
  auto conn = connect_to(f.db.name, "rb-engine-test-timeouts", "7s", "9s");
  const std::string lock_before = text_of(*conn, "SHOW lock_timeout");
  const std::string stmt_before = text_of(*conn, "SHOW statement_timeout");
  REQUIRE(lock_before == "7s");
  REQUIRE(stmt_before == "9s");
  f.dir.write("0001_t.sql", "CREATE TABLE t (id int, v int);\nINSERT INTO t VALUES (1, 1), (2, 2);\n");
  f.dir.write("0002_idx.sql", "CREATE INDEX CONCURRENTLY t_v_idx ON t (v);\n");
  Ledger ledger(*conn);
  ApplyOptions o = live_options();
  o.lock_timeout = "1s";

  SECTION("after success") {
    REQUIRE(apply(*conn, ledger, f.load(), o).migrations.size() == 2);
    CHECK(text_of(*conn, "SHOW lock_timeout") == lock_before);
    CHECK(text_of(*conn, "SHOW statement_timeout") == stmt_before);
  }
  SECTION("after failure") {
    f.dir.write("0002_idx.sql", "CREATE UNIQUE INDEX CONCURRENTLY t_id_key ON t ((1));\n");
    CHECK_THROWS_AS(apply(*conn, ledger, f.load(), o), rb::StepError);
    CHECK(text_of(*conn, "SHOW lock_timeout") == lock_before);
    CHECK(text_of(*conn, "SHOW statement_timeout") == stmt_before);
  }
}

TEST_CASE("engine rollback: runs down scripts newest first and removes ledger rows", "[engine][rollback]") {
  Fixture f;
  f.conn->run_script("CREATE TABLE run_log (n serial PRIMARY KEY, what text)");
  for (const char* v : {"0001", "0002", "0003"}) {
    const std::string t = std::string("t") + v;
    f.dir.write(std::string(v) + "_" + t + ".up.sql", "CREATE TABLE " + t + " (id int);\n");
    f.dir.write(std::string(v) + "_" + t + ".down.sql",
                "DROP TABLE " + t + ";\nINSERT INTO run_log (what) VALUES ('down " + v + "');\n");
  }
  const Chain chain = f.load();
  Ledger ledger(*f.conn);
  REQUIRE(apply(*f.conn, ledger, chain, live_options()).migrations.size() == 3);

  RollbackOptions ro;
  ro.count = 2;
  ro.lock_wait_s = 10;
  const ApplyResult res = rollback(*f.conn, ledger, chain, ro);
  REQUIRE(res.migrations.size() == 2);
  CHECK(res.migrations[0].name == "0003_t0003.up.sql");
  CHECK(res.migrations[1].name == "0002_t0002.up.sql");
  CHECK(res.migrations[0].status == "rolled back");
  std::vector<std::string> log;
  for (const auto& r : f.conn->query("SELECT what FROM run_log ORDER BY n").rows) log.push_back(r.at(0).text);
  CHECK(log == std::vector<std::string>{"down 0003", "down 0002"});
  CHECK(relation_exists(*f.conn, "t0001"));
  CHECK_FALSE(relation_exists(*f.conn, "t0002"));
  CHECK_FALSE(relation_exists(*f.conn, "t0003"));
  CHECK(ledger_names(*f.conn) == std::vector<std::string>{"0001_t0001.up.sql"});

  SECTION("apply again re-applies them") {
    CHECK(apply(*f.conn, ledger, chain, live_options()).migrations.size() == 2);
    CHECK(relation_exists(*f.conn, "t0003"));
  }
  SECTION("rollback to a version") {
    apply(*f.conn, ledger, chain, live_options());
    RollbackOptions to;
    to.to = "0001";
    to.count = 0;
    to.lock_wait_s = 10;
    const ApplyResult r2 = rollback(*f.conn, ledger, chain, to);
    CHECK(r2.migrations.size() == 2);
    CHECK(ledger_names(*f.conn) == std::vector<std::string>{"0001_t0001.up.sql"});
  }
  SECTION("dry-run rollback changes nothing and shows the down SQL") {
    std::vector<std::string> plans;
    ApplyObserver obs;
    obs.would_run = [&](const rb::migrations::PlannedMigration& m, const std::string& sql) { plans.push_back(m.name + "\n" + sql); };
    RollbackOptions dry;
    dry.mode = RunMode::dry_run;
    dry.count = 1;
    const ApplyResult r2 = rollback(*f.conn, ledger, chain, dry, obs);
    REQUIRE(r2.migrations.size() == 1);
    CHECK(r2.migrations[0].status == "would roll back");
    REQUIRE(plans.size() == 1);
    CHECK(contains(plans[0], "0001_t0001"));
    CHECK(contains(plans[0], "DROP TABLE t0001"));
    CHECK(relation_exists(*f.conn, "t0001"));
    CHECK(ledger_names(*f.conn).size() == 1);
  }
}

TEST_CASE("engine rollback: refuses when a down script is missing, changing nothing", "[engine][rollback]") {
  Fixture f;
  f.dir.write("0001_a.up.sql", "CREATE TABLE a (id int);\n");
  f.dir.write("0001_a.down.sql", "DROP TABLE a;\n");
  f.dir.write("0002_b.up.sql", "CREATE TABLE b (id int);\n");  // no down script
  f.dir.write("0003_c.up.sql", "CREATE TABLE c (id int);\n");
  f.dir.write("0003_c.down.sql", "DROP TABLE c;\n");
  const Chain chain = f.load();
  Ledger ledger(*f.conn);
  REQUIRE(apply(*f.conn, ledger, chain, live_options()).migrations.size() == 3);

  RollbackOptions ro;
  ro.count = 2;
  ro.lock_wait_s = 10;
  const std::string msg = error_of<rb::ConfigError>([&] { rollback(*f.conn, ledger, chain, ro); });
  CHECK(contains(msg, "0002_b"));
  CHECK_FALSE(contains(msg, "0003_c"));
  // Nothing changed, not even the newest migration, whose down script exists.
  CHECK(relation_exists(*f.conn, "a"));
  CHECK(relation_exists(*f.conn, "b"));
  CHECK(relation_exists(*f.conn, "c"));
  CHECK(ledger_names(*f.conn).size() == 3);

  // More than applied is refused too.
  ro.count = 4;
  CHECK_THROWS_AS(rollback(*f.conn, ledger, chain, ro), rb::ConfigError);
  CHECK(ledger_names(*f.conn).size() == 3);

  // Only the newest one is fine.
  ro.count = 1;
  CHECK(rollback(*f.conn, ledger, chain, ro).migrations.size() == 1);
  CHECK_FALSE(relation_exists(*f.conn, "c"));
  CHECK(ledger_names(*f.conn).size() == 2);
}

TEST_CASE("engine baseline: records versions up to N without running them", "[engine][baseline]") {
  Fixture f;
  f.conn->run_script("CREATE TABLE run_log (n serial PRIMARY KEY, what text)");
  f.dir.write("0001_a.sql", "CREATE TABLE a (id int);\nINSERT INTO run_log (what) VALUES ('0001');\n");
  f.dir.write("0002_b.sql", "CREATE TABLE b (id int);\nINSERT INTO run_log (what) VALUES ('0002');\n");
  f.dir.write("0003_c.sql", "CREATE TABLE c (id int);\nINSERT INTO run_log (what) VALUES ('0003');\n");
  const Chain chain = f.load();
  Ledger ledger(*f.conn);
  // The database already has what 0001 and 0002 create.
  f.conn->run_script("CREATE TABLE a (id int); CREATE TABLE b (id int)");

  const auto done = baseline(*f.conn, ledger, chain, "0002", RunMode::live, "run-baseline", "operator");
  CHECK(done == std::vector<std::string>{"0001_a.sql", "0002_b.sql"});
  CHECK(int_of(*f.conn, "SELECT count(*) FROM run_log") == 0);  // nothing ran
  auto rows = f.conn->query("SELECT filename, sha256, status, run_id FROM public.schema_migrations ORDER BY filename");
  REQUIRE(rows.rows.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(rows.rows[i][0].text == chain.migrations[i].name);
    CHECK(rows.rows[i][1].text == rbtest::sha256sum(chain.migrations[i].up_path));
    CHECK(rows.rows[i][2].text == "applied");
    CHECK(rows.rows[i][3].text == "run-baseline");
  }
  CHECK(baseline(*f.conn, ledger, chain, "0002", RunMode::live, "run-baseline-2", "operator").empty());
  CHECK_THROWS_AS(baseline(*f.conn, ledger, chain, "0042", RunMode::live, "r", "o"), rb::ConfigError);

  const ApplyResult res = apply(*f.conn, ledger, chain, live_options());
  REQUIRE(res.migrations.size() == 1);
  CHECK(res.migrations[0].name == "0003_c.sql");
  CHECK(int_of(*f.conn, "SELECT count(*) FROM run_log") == 1);
  CHECK(relation_exists(*f.conn, "c"));
}

TEST_CASE("engine baseline: dry-run records nothing", "[engine][baseline]") {
  Fixture f;
  f.dir.write("0001_a.sql", "CREATE TABLE a (id int);\n");
  const Chain chain = f.load();
  Ledger ledger(*f.conn);
  const auto would = baseline(*f.conn, ledger, chain, "0001", RunMode::dry_run, "r", "o");
  CHECK(would == std::vector<std::string>{"0001_a.sql"});
  CHECK_FALSE(relation_exists(*f.conn, "public.schema_migrations"));
}

TEST_CASE("engine apply: dry-run changes nothing and shows the SQL it would run", "[engine][apply][dry-run]") {
  Fixture f;
  f.dir.write("0001_dry_a.sql", "CREATE TABLE dry_a (id int);\nINSERT INTO dry_a VALUES (42);\n");
  f.dir.write("0002_dry_idx.sql", "CREATE INDEX CONCURRENTLY dry_a_id ON dry_a (id);\n");
  const Chain chain = f.load();
  Ledger ledger(*f.conn);

  std::vector<std::pair<std::string, std::string>> plans;
  ApplyObserver obs;
  obs.would_run = [&](const rb::migrations::PlannedMigration& m, const std::string& sql) { plans.emplace_back(m.name, sql); };
  ApplyOptions o = live_options();
  o.mode = RunMode::dry_run;
  const ApplyResult res = apply(*f.conn, ledger, chain, o, obs);

  REQUIRE(res.migrations.size() == 2);
  CHECK(res.migrations[0].status == "would apply");
  CHECK_FALSE(res.migrations[1].transactional);
  REQUIRE(plans.size() == 2);
  CHECK(plans[0].first == "0001_dry_a.sql");
  CHECK(contains(plans[0].second, "CREATE TABLE dry_a (id int)"));
  CHECK(contains(plans[0].second, "INSERT INTO dry_a VALUES (42)"));
  CHECK(plans[1].first == "0002_dry_idx.sql");
  CHECK(contains(plans[1].second, "CREATE INDEX CONCURRENTLY dry_a_id"));
  CHECK(contains(plans[1].second, "outside a transaction"));

  CHECK_FALSE(relation_exists(*f.conn, "public.schema_migrations"));
  CHECK_FALSE(relation_exists(*f.conn, "dry_a"));

  SECTION("on a read-only session too, and only the pending part") {
    apply(*f.conn, ledger, chain, [] {
      ApplyOptions live = live_options();
      live.target = "0001";
      return live;
    }());
    ConnectOptions ro;
    ro.conninfo = "dbname=" + f.db.name;
    ro.read_only = true;
    Connection rconn(ro);
    Ledger rledger(rconn);
    plans.clear();
    const ApplyResult r2 = apply(rconn, rledger, chain, o, obs);
    REQUIRE(r2.migrations.size() == 1);
    CHECK(r2.migrations[0].name == "0002_dry_idx.sql");
    REQUIRE(plans.size() == 1);
    CHECK_FALSE(relation_exists(*f.conn, "dry_a_id"));
    CHECK(ledger_names(*f.conn) == std::vector<std::string>{"0001_dry_a.sql"});
  }
}
