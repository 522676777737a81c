// Live progress (issue 11, part 2): a migration still running after 3 s gets a line, then one
// every 5 s, with its time, what its session waits on and who blocks it (pid, application, user).
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <thread>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }
}  // namespace

TEST_CASE("a long migration is never silent: a heartbeat at 3 s and every 5 s after", "[cli][heartbeat]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/001_slow.sql", "SELECT pg_sleep(9);\n");
  dir.write("migrations/002_quick.sql", "CREATE TABLE quick (id int);\n");
  auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "  still running 001_slow.sql: 3 s; waiting for Timeout: PgSleep\n"));
  CHECK(has(r, "  still running 001_slow.sql: 8 s; waiting for Timeout: PgSleep\n"));
  CHECK_FALSE(has(r, "still running 002_quick.sql"));  // done in milliseconds: no beat
  CHECK(r.all().find("still running 001_slow.sql: 3 s") < r.all().find("[1/2] 001_slow.sql applied"));
  // No control codes off a terminal.
  CHECK(r.all().find("\033[") == std::string::npos);
}

TEST_CASE("a migration waiting for a lock names the session that blocks it", "[cli][heartbeat]") {
  TempDir dir;
  TempDatabase db;
  rbtest::psql(db, "CREATE TABLE busy (id int)");
  dir.write("migrations/001_alter_busy.sql", "ALTER TABLE busy ADD COLUMN note text;\n");
  // Another session holds the table for 6 s: ACCESS SHARE, as a long SELECT does, which the
  // backup (pg_dump) shares and ALTER TABLE waits for.
  rbtest::AccessShareHolder holder(db, "busy", 6);
  const std::string holder_pid = holder.pid();
  auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes"});
  holder.wait();
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "  still running 001_alter_busy.sql: 3 s; waiting for Lock: relation; blocked by pid " + holder_pid +
                   " (psql, user "));
  CHECK(has(r, ", local socket, active since "));
  CHECK(rbtest::psql(db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'busy' AND column_name = 'note'") ==
        "1\n");
}
