// Approvals bound to the plan (issue 12, part 2) against a real PostgreSQL: approve.lua records an
// approval of a saved plan's id on the target database (append-only table); an environment with
// approvals.required = 2 makes apply-prod --plan refuse (exit 3, naming who approved and how many
// are missing) until two distinct approvers approved exactly that plan. The same person twice
// counts once, the runner does not count without self_approval, someone not listed does not
// count, and an edited plan needs new approvals.
#include <catch2/catch.hpp>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }
}  // namespace

TEST_CASE("approvals: two distinct approvers of exactly this plan, or apply-prod refuses", "[cli][approvals]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  dir.write("environments.lua",
            "return { prod = { database_env = 'PROD_URL', confirm = 'PROD-OK',\n"
            "  approvals = { required = 2, approvers = { 'alice', 'bob', 'carol', 'deploy' }, self_approval = false } } }\n");
  const std::map<std::string, std::string> runner{{"PROD_URL", db.url()}, {"RUNBOOK_OPERATOR", "deploy"}};
  auto approve = [&](const std::string& who, const std::string& plan = "plan.json") {
    return rbtest::run_runbook(dir, db, "approve.lua",
                               {"--env", "prod", "--set", "plan=" + plan, "--set", "as=" + who, "--set", "comment=read it", "--yes"},
                               {{"PROD_URL", db.url()}});
  };
  auto apply = [&](const std::string& plan = "plan.json") {
    return rbtest::run_runbook(dir, db, "apply-prod.lua",
                               {"--env", "prod", "--plan", plan, "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, runner);
  };
  const auto planned = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--env", "prod", "--dry-run", "--plan-out", "plan.json"}, runner);
  INFO(planned.all());
  REQUIRE(planned.code == 0);
  CHECK(has(planned, "has 0 of the 2 approvals the environment requires; 2 missing"));
  CHECK(has(planned, "(dry-run: a live run stops here)"));

  auto none = apply();
  INFO(none.all());
  CHECK(none.code == 3);
  CHECK(has(none, "has 0 of the 2 approvals the environment requires; 2 missing"));
  CHECK(has(none, "runbook approve.lua --env ENV --set plan=PLAN_FILE"));

  REQUIRE(approve("alice").code == 0);
  auto one = apply();
  CHECK(one.code == 3);
  CHECK(has(one, "has 1 of the 2 approvals the environment requires; 1 missing"));
  CHECK(has(one, "approved by alice at "));

  // The same person twice, the runner, someone not listed: none of them is a second approver.
  REQUIRE(approve("alice").code == 0);
  REQUIRE(approve("deploy").code == 0);
  REQUIRE(approve("mallory").code == 0);
  auto still = apply();
  INFO(still.all());
  CHECK(still.code == 3);
  CHECK(has(still, "has 1 of the 2 approvals"));
  CHECK(has(still, "not counted: deploy (the runner of this change; self_approval = false)"));
  CHECK(has(still, "not counted: mallory (not one of the environment's approvers)"));
  CHECK(rbtest::psql(db, "SELECT to_regclass('public.schema_migrations') IS NULL") == "t\n");  // nothing applied

  REQUIRE(approve("bob").code == 0);
  auto two = apply();
  INFO(two.all());
  CHECK(two.code == 0);
  CHECK(has(two, "approved by bob at "));
  CHECK(rbtest::psql(db, "SELECT count(*) FROM public.schema_migrations") == "13\n");

  // The approvals are append-only.
  CHECK_THROWS_WITH(rbtest::psql(db, "UPDATE public.runbook_approvals SET approver = 'bob'"),
                    Catch::Contains("append-only"));
  CHECK_THROWS_WITH(rbtest::psql(db, "DELETE FROM public.runbook_approvals"), Catch::Contains("append-only"));
  CHECK_THROWS_WITH(rbtest::psql(db, "TRUNCATE public.runbook_approvals"), Catch::Contains("append-only"));
  CHECK(rbtest::psql(db, "SELECT count(DISTINCT approver) FROM public.runbook_approvals") == "4\n");

  // A new migration: a new plan, with none of the old plan's approvals; the old file is stale.
  dir.write("migrations/0014_add_note.up.sql", "ALTER TABLE hero_snapshots ADD COLUMN note text;\n");
  REQUIRE(rbtest::run_runbook(dir, db, "apply-prod.lua", {"--env", "prod", "--dry-run", "--plan-out", "plan2.json"}, runner).code == 0);
  auto fresh = apply("plan2.json");
  CHECK(fresh.code == 3);
  CHECK(has(fresh, "has 0 of the 2 approvals"));
  dir.write("migrations/0014_add_note.up.sql", "ALTER TABLE hero_snapshots ADD COLUMN note2 text;\n");
  auto stale = approve("alice", "plan2.json");
  CHECK(stale.code == 4);
  CHECK(has(stale, "plan2.json no longer matches the migration files"));
  CHECK(has(stale, "0014_add_note.up.sql (edited since the plan was made)"));
}
