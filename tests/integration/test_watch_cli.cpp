// The monitoring window (issue 12, part 4): post-verify --set watch=... repeats the smoke and
// health checks every `every`; a health endpoint (a real HTTP server on loopback) that starts
// failing after two rounds makes the run exit 4 naming the round and the check, and puts the
// rollback decision to the operator without taking it.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

CliResult watch(const TempDir& dir, const TempDatabase& db, const std::string& health_url, const std::string& extra_env,
                const std::vector<std::string>& args) {
  dir.write("environments.lua", "return { prod = { database_env = 'PROD_URL', " + extra_env +
                                    "health_checks = { { name = 'app health', url = '" + health_url + "' } },\n"
                                    "  smoke_sql = { { name = 'hero rows', sql = 'SELECT count(*) FROM hero_snapshots', expect = '>= 0' } } } }\n");
  std::vector<std::string> all{"--env", "prod", "--json"};
  all.insert(all.end(), args.begin(), args.end());
  return rbtest::run_runbook(dir, db, "post-verify.lua", all, {{"PROD_URL", db.url()}});
}
}  // namespace

TEST_CASE("watch: the health endpoint fails after two rounds: exit 4 naming the round and the check", "[cli][watch]") {
  rbtest::HttpServer server;
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
  // The first three requests answer 200: the verdict's own check, then watch rounds 1 and 2.
  const auto r = watch(dir, db, server.url("/sour?key=w1&ok=3"), "watch_failure = 'ask', ", {"--set", "watch=5s", "--set", "every=1s"});
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(has(r, "watching for 5s: 5 round(s) of 2 check(s), every 1s"));
  CHECK(has(r, "watch round 1/5: 2 check(s) PASS"));
  CHECK(has(r, "watch round 2/5: 2 check(s) PASS"));
  CHECK_FALSE(has(r, "watch round 3/5: 2 check(s) PASS"));
  CHECK(has(r, "the watch failed at round 3 of 5 (after 2 passing round(s))"));
  CHECK(has(r, "  - app health: "));
  CHECK(has(r, "decide now: roll back with `runbook rollback.lua --env prod`"));
  const auto rounds = rbtest::events_of(r.out, "watch_round");
  REQUIRE(rounds.size() == 3);
  CHECK(rounds[2]["failed"] == 1);
  // Asked, with no terminal to answer: recorded as not decided, never rolled back.
  const auto decision = rbtest::events_of(r.out, "rollback_decision");
  REQUIRE(decision.size() == 1);
  CHECK(decision[0]["answer"] == "not now");
  CHECK(rbtest::psql(db, "SELECT count(*) FROM public.schema_migrations") == "13\n");
  CHECK(rbtest::events_of(r.out, "end").at(0)["status"] == "verification failed");
}

TEST_CASE("watch: every round passing, a line per round and a summary; no checks to repeat is a usage error", "[cli][watch]") {
  rbtest::HttpServer server;
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
  const auto r = watch(dir, db, server.url("/sour?key=w2&ok=100"), "", {"--set", "watch=3s", "--set", "every=1s"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "watch round 3/3: 2 check(s) PASS"));
  CHECK(has(r, "watch: all 3 round(s) passed over 3s"));
  const auto dry = watch(dir, db, server.url("/sour?key=w3&ok=100"), "", {"--set", "watch=30min", "--dry-run"});
  CHECK(dry.code == 0);
  CHECK(has(dry, "watching for 30min: 30 round(s) of 2 check(s), every 1min"));
  CHECK(has(dry, "dry-run: the window is not watched"));
  const auto typo = watch(dir, db, server.url("/sour?key=w4&ok=100"), "watch_failure = 'rollback', ", {"--set", "watch=2s", "--set", "every=1s"});
  CHECK(typo.code == 2);
  CHECK(has(typo, "watch_failure must be \"ask\" (or absent), got \"rollback\""));
  dir.write("environments.lua", "return { bare = { database_env = 'PROD_URL' } }\n");
  const auto none = rbtest::run_runbook(dir, db, "post-verify.lua", {"--env", "bare", "--set", "watch=1min"}, {{"PROD_URL", db.url()}});
  CHECK(none.code == 2);
  CHECK(has(none, "watch: the environment has no smoke_sql or health_checks to repeat"));
}
