// post-verify's expected schema, foreign-key orphan and NOT VALID checks (issue 10, part 3)
// through the real CLI: apply.lua records the schema it left, post-verify compares with it.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

// The line of the results table for check `name` ("" when there is none).
std::string row(const CliResult& r, const std::string& name) {
  std::istringstream in(r.all());
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + "  ", 0) == 0) return line;
  return "";
}

bool row_says(const CliResult& r, const std::string& name, const std::string& what) {
  return row(r, name).find(what) != std::string::npos;
}

// The sample chain applied by apply.lua, run records in dir/journal.
void applied(const TempDir& dir, const TempDatabase& db) {
  rbtest::copy_sample_chain(dir);
  auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "--json"});
  INFO(r.all());
  REQUIRE(r.code == 0);
  // The verify step recorded the schema it left.
  bool recorded = false;
  const auto record = rbtest::record_of(r.out);
  for (const auto& step : record["steps"])
    for (const auto& e : step["events"])
      if (e["event"] == "expected_schema") recorded = e["tables"].size() >= 6 && e["last_applied"].is_string();
  REQUIRE(recorded);
}

CliResult post_verify(const TempDir& dir, const TempDatabase& db, const std::vector<std::string>& extra = {}) {
  return rbtest::run_runbook(dir, db, "post-verify.lua", extra);
}
}  // namespace

TEST_CASE("post-verify: a clean database matches the schema its apply recorded", "[post-verify][schema]") {
  TempDir dir;
  TempDatabase db;
  applied(dir, db);
  auto r = post_verify(dir, db);
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(row_says(r, "expected schema", "PASS"));
  CHECK(row_says(r, "expected schema", "matches the schema recorded by run "));
  CHECK(row_says(r, "foreign-key orphans", "PASS"));
  CHECK(row_says(r, "NOT VALID constraints", "PASS"));
}

TEST_CASE("post-verify: a column dropped by hand fails (exit 4) naming table.column", "[post-verify][schema]") {
  TempDir dir;
  TempDatabase db;
  applied(dir, db);
  rbtest::psql(db, "ALTER TABLE etl_errors DROP COLUMN message");
  auto r = post_verify(dir, db);
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(row_says(r, "expected schema", "FAIL"));
  CHECK(has(r, "column public.etl_errors.message is missing (1 difference(s) from the schema recorded by run "));
  CHECK(row_says(r, "foreign-key orphans", "PASS"));
}

TEST_CASE("post-verify: an orphan row under a foreign key fails naming the constraint, table and key", "[post-verify][schema]") {
  TempDir dir;
  TempDatabase db;
  applied(dir, db);
  rbtest::psql(db, "INSERT INTO hero_snapshots (id, user_id, raw) VALUES "
                   "('00000000-0000-0000-0000-000000000001', gen_random_uuid(), '{}')");
  rbtest::psql(db, "SET session_replication_role = replica; "
                   "INSERT INTO etl_errors (snapshot_id, error_type, user_id) VALUES "
                   "('00000000-0000-0000-0000-000000000001', 'bogus_type', gen_random_uuid())");
  auto r = post_verify(dir, db);
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(row_says(r, "foreign-key orphans", "FAIL"));
  CHECK(has(r, "etl_errors_error_type_fkey on public.etl_errors -> public.etl_error_types: 1 orphan row(s), e.g. (error_type)=(bogus_type)"));
  CHECK_FALSE(has(r, "etl_errors_snapshot_id_fkey on"));  // its parent row exists
  CHECK(row_says(r, "expected schema", "PASS"));
}

TEST_CASE("post-verify: a NOT VALID constraint fails unless the environment lists it; no expectation warns",
          "[post-verify][schema]") {
  TempDir dir;
  TempDatabase db;
  applied(dir, db);
  rbtest::psql(db, "ALTER TABLE etl_errors DROP CONSTRAINT etl_errors_error_type_fkey; "
                   "ALTER TABLE etl_errors ADD CONSTRAINT etl_errors_error_type_fkey "
                   "FOREIGN KEY (error_type) REFERENCES etl_error_types (code) NOT VALID");
  auto r = post_verify(dir, db);
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(row_says(r, "NOT VALID constraints", "FAIL"));
  CHECK(has(r, "etl_errors_error_type_fkey on public.etl_errors (VALIDATE CONSTRAINT it, or list it in the environment's not_valid_ok)"));
  CHECK(has(r, "constraint etl_errors_error_type_fkey on public.etl_errors is NOT VALID (expected validated)"));

  // Listed as intended: a warning; and from a journal with no apply in it, no expectation (a
  // warning too): nothing fails.
  TempDir other;
  rbtest::copy_sample_chain(other);
  other.write("environments.lua", R"(return { prod = { database_env = "DATABASE_URL",
    not_valid_ok = { "etl_errors_error_type_fkey" } } })");
  auto listed = post_verify(other, db, {"--env", "prod"});
  INFO(listed.all());
  CHECK(listed.code == 0);
  CHECK(row_says(listed, "NOT VALID constraints", "WARN"));
  CHECK(row_says(listed, "NOT VALID constraints", "intended (not_valid_ok): etl_errors_error_type_fkey on public.etl_errors"));
  CHECK(row_says(listed, "expected schema", "WARN"));
  CHECK(row_says(listed, "expected schema", "no expected schema recorded"));
}

TEST_CASE("a rollback verifies against the apply's expectation (stale: a warning) and records the schema it leaves",
          "[post-verify][schema][rollback]") {
  TempDir dir;
  TempDatabase db;
  applied(dir, db);
  // Rolled back to where 0012 added its checks NOT VALID: intended there, so listed.
  dir.write("environments.lua", R"(return { prod = { database_env = "DATABASE_URL",
    not_valid_ok = { "hero_snapshots_raw_is_object", "hero_snapshots_error_count_nonnegative" } } })");
  auto rolled = rbtest::run_runbook(dir, db, "rollback.lua",
                                    {"--yes", "--set", "count=1", "--set", "method=down", "--json", "--env", "prod"});
  INFO(rolled.all());
  REQUIRE(rolled.code == 0);
  // The rollback's own post-verify: the ledger no longer stands where the apply recorded its
  // schema, so the differences (the constraint its down script dropped) are a warning.
  CHECK(row_says(rolled, "ledger consistent", "PASS"));
  CHECK(row_says(rolled, "expected schema", "WARN"));
  CHECK(row(rolled, "ledger parity").empty());  // 0013 pending again is the point, not a failure
  const auto record = rbtest::record_of(rolled.out);
  std::string detail, rollback_run = record["run_id"];
  for (const auto& c : record["checks"])
    if (c["name"] == "expected schema") detail = c["detail"];
  CHECK(detail.find("stale: recorded at 13 applied (last 0013_validate_hero_snapshots_checks.up.sql), the ledger now has 12") !=
        std::string::npos);

  // From then on post-verify expects what the rollback left.
  auto r = post_verify(dir, db, {"--env", "prod"});
  INFO(r.all());
  CHECK(r.code == 4);  // parity: 0013 is pending again
  CHECK(row_says(r, "ledger parity", "FAIL"));
  CHECK(row_says(r, "expected schema", "PASS"));
  CHECK(row_says(r, "expected schema", "matches the schema recorded by run " + rollback_run));
}

TEST_CASE("a live apply verifies the schema it left against the shadow rehearsal of the same files", "[post-verify][schema][shadow]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  auto rehearsal = rbtest::run_runbook(dir, db, "apply.lua", {"--rehearse", "--yes"});
  INFO(rehearsal.all());
  REQUIRE(rehearsal.code == 0);

  SECTION("the same result: PASS, naming the rehearsal run") {
    auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes"});
    INFO(r.all());
    CHECK(r.code == 0);
    CHECK(row_says(r, "schema as rehearsed", "PASS"));
    CHECK(row_says(r, "schema as rehearsed", "matches the shadow of rehearsal run "));
    // post-verify later compares with it too, as long as the ledger stays where the rehearsal left it.
    auto pv = post_verify(dir, db);
    INFO(pv.all());
    CHECK(pv.code == 0);
    CHECK(row_says(pv, "schema as rehearsed", "PASS"));
  }
  SECTION("a table created by hand after the rehearsal: the apply's verify fails (exit 4) naming it") {
    rbtest::psql(db, "CREATE TABLE hand_made (id int)");
    auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes"});
    INFO(r.all());
    CHECK(r.code == 4);
    CHECK(row_says(r, "schema as rehearsed", "FAIL"));
    CHECK(has(r, "table public.hand_made is unexpected (1 column(s), 0 index(es), 0 constraint(s)) (1 difference(s) "
                 "from the shadow of rehearsal run "));
    // The migrations themselves are committed: parity holds.
    CHECK(row_says(r, "ledger parity", "PASS"));
  }
  SECTION("a rehearsal that stopped elsewhere in the chain is no expectation: no row") {
    TempDir other;
    TempDatabase db2;
    rbtest::copy_sample_chain(other);
    REQUIRE(rbtest::run_runbook(other, db2, "apply.lua", {"--rehearse", "--yes", "--set", "target=0005"}).code == 0);
    auto r = rbtest::run_runbook(other, db2, "apply.lua", {"--yes"});
    INFO(r.all());
    CHECK(r.code == 0);
    CHECK(row(r, "schema as rehearsed").empty());
    CHECK(row_says(r, "expected schema", "PASS"));
  }
}
