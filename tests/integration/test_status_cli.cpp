// status.lua (issue 11, part 1) through the real CLI: applied, pending, drift, dirty, the lock
// holder and the last run; exit 0 up to date, 5 pending, 4 drift or dirty; no run record.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <future>
#include <thread>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

CliResult status(const TempDir& dir, const TempDatabase& db, const std::vector<std::string>& extra = {}) {
  return rbtest::run_runbook(dir, db, "status.lua", extra);
}

std::size_t records(const TempDir& dir) { return rbtest::files_in(dir.path() + "/journal", ".json").size(); }
}  // namespace

TEST_CASE("status.lua: exit 5 pending, 0 up to date, 4 drift or dirty; never a run record", "[status]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);

  auto pending = status(dir, db);
  INFO(pending.all());
  CHECK(pending.code == 5);
  CHECK(has(pending, "applied: 0"));
  CHECK(has(pending, "pending: 13: 0001_create_pgcrypto"));
  CHECK(has(pending, "migration lock: free"));
  CHECK(has(pending, "last run: none recorded"));
  CHECK(has(pending, "next: runbook apply.lua"));
  CHECK(records(dir) == 0);
  // A read-only look: not even the ledger table is created.
  CHECK(rbtest::psql(db, "SELECT to_regclass('public.schema_migrations') IS NULL") == "t\n");

  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
  const auto after_apply = records(dir);

  auto current = status(dir, db);
  INFO(current.all());
  CHECK(current.code == 0);
  CHECK(has(current, "applied: 13 (last 0013_validate_hero_snapshots_checks.up.sql)"));
  CHECK(has(current, "pending: 0"));
  CHECK(has(current, "up to date"));
  CHECK(has(current, "last run: apply succeeded (live, no environment)"));
  CHECK_FALSE(has(current, "run record:"));
  CHECK(records(dir) == after_apply);

  SECTION("an applied file edited: exit 4 naming it") {
    dir.write("migrations/0003_create_etl_error_types.up.sql", "-- edited\nSELECT 1;\n");
    auto r = status(dir, db);
    INFO(r.all());
    CHECK(r.code == 4);
    CHECK(has(r, "drift: 0003_create_etl_error_types.up.sql was edited after it was applied"));
    CHECK(records(dir) == after_apply);
  }
  SECTION("a dirty migration: exit 4 naming it and the resolve command") {
    rbtest::psql(db, "UPDATE schema_migrations SET status = 'dirty', failed_statement = 2, statements_done = 1, "
                     "error = 'boom' WHERE filename = '0013_validate_hero_snapshots_checks.up.sql'");
    auto r = status(dir, db);
    INFO(r.all());
    CHECK(r.code == 4);
    CHECK(has(r, "0013_validate_hero_snapshots_checks.up.sql is dirty: it failed at statement 2"));
    CHECK(has(r, "runbook resolve.lua --set migration=0013_validate_hero_snapshots_checks.up.sql --set as=applied"));
  }
  SECTION("--json streams the same as a status event, then the end event") {
    auto r = status(dir, db, {"--json"});
    INFO(r.all());
    CHECK(r.code == 0);
    const auto end = rbtest::events_of(r.out, "end");
    REQUIRE(end.size() == 1);
    CHECK(end[0]["status"] == "succeeded");
    CHECK(end[0]["exit_code"] == 0);
    CHECK(end[0]["record"].is_null());  // status.lua keeps no record
    const auto seen = rbtest::events_of(r.out, "status");
    REQUIRE(seen.size() == 1);
    CHECK(seen[0]["applied"] == 13);
    CHECK(seen[0]["pending"].empty());
    CHECK(seen[0]["parity"] == "PASS");
    CHECK(seen[0]["last_run"]["runbook"] == "apply");
    CHECK(records(dir) == after_apply);
  }
}

TEST_CASE("status.lua --json on a pending database ends with status pending and exit code 5", "[status]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  auto r = status(dir, db, {"--json"});
  INFO(r.all());
  CHECK(r.code == 5);
  const auto end = rbtest::events_of(r.out, "end");
  REQUIRE(end.size() == 1);
  CHECK(end[0]["status"] == "pending");
  CHECK(end[0]["exit_code"] == 5);
}

TEST_CASE("status.lua names the runner that holds the migration lock", "[status]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/001_slow.sql", "SELECT pg_sleep(6);\n");
  auto apply = std::async(std::launch::async, [&] { return rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}); });
  CliResult seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    seen = status(dir, db);
    if (has(seen, "held by")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  INFO(seen.all());
  CHECK(has(seen, "migration lock: held by runbook apply (user "));
  CHECK(has(seen, ", pid "));
  CHECK(seen.code == 5);  // 001_slow.sql is not committed yet
  const auto applied = apply.get();
  INFO(applied.all());
  CHECK(applied.code == 0);
}

TEST_CASE("json.decode with keys keeps only those top-level keys (how status.lua reads a record's header)", "[status][json]") {
  TempDir dir;
  TempDatabase db;
  dir.write("decode.lua", R"(
local runbook = require "runbook"
local json = require "json"
return runbook.define { name = "decode", steps = { runbook.step("decode", "decode", function(ctx)
  local v = json.decode('{"a": 1, "events": [1, 2, {"a": 3}], "b": {"c": 2, "events": 4}}', { keys = { "a", "b" } })
  ctx:log("a=%s events=%s b.c=%s b.events=%s", tostring(v.a), tostring(v.events), tostring(v.b.c), tostring(v.b.events))
  local ok, err = pcall(json.decode, "{}", { keys = "a" })
  ctx:log("keys not a list: %s", tostring(err))
end) } }
)");
  auto r = rbtest::run_runbook(dir, db, "decode.lua");
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "a=1 events=nil b.c=2 b.events=4"));  // nested keys are kept whatever their name
  CHECK(has(r, "keys not a list: "));
  CHECK(has(r, "{keys = {\"name\", ...}}"));
}
