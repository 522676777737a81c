// Rollback safety (issue 10, part 8) through the real CLI: the down scripts a rollback would
// run are reviewed and linted, each destructive finding needs its acknowledgement by name
// (--yes never gives it), whichever method undoes the migrations; after a rollback the whole
// post-verify of the environment runs.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

// 0001 creates a table with rows; its down script drops it.
void write_chain(TempDir& dir) {
  dir.write("migrations/0001_orders.up.sql", "CREATE TABLE orders (id int PRIMARY KEY);\n"
                                             "INSERT INTO orders SELECT g FROM generate_series(1, 50) g;\n");
  dir.write("migrations/0001_orders.down.sql", "-- undo 0001\nDROP TABLE orders;\n");
}

bool orders_there(const TempDatabase& db) {
  return db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'orders'") == 1 &&
         db.count("SELECT count(*) FROM orders") == 50;
}

}  // namespace

TEST_CASE("a rollback whose down script drops a table shows it, asks for that acknowledgement and refuses without it",
          "[rollback][ack]") {
  TempDir dir;
  TempDatabase db;
  write_chain(dir);
  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "-q"}).code == 0);

  // Dry-run: the review shows the down script and its finding, and what it would ask.
  auto dry = rbtest::run_runbook(dir, db, "rollback.lua", {"--dry-run", "--set", "method=down"});
  INFO(dry.all());
  CHECK(dry.code == 0);
  CHECK(has(dry, "----- ./migrations/0001_orders.down.sql -----"));
  CHECK(has(dry, "0001_orders.down.sql:2: [drop-table]"));
  CHECK(has(dry, "would ask to acknowledge destructive SQL: ./migrations/0001_orders.down.sql:2 [drop-table]"));
  CHECK(has(dry, "--ack drop-table@0001_orders.down.sql"));

  // --yes answers the question, never the acknowledgement: exit 3, nothing changed.
  auto refused = rbtest::run_runbook(dir, db, "rollback.lua", {"--yes", "--set", "method=down"});
  INFO(refused.all());
  CHECK(refused.code == 3);
  CHECK(has(refused, "destructive SQL must be acknowledged finding by finding (--yes never does it)"));
  CHECK(has(refused, "pass --ack drop-table@0001_orders.down.sql"));
  CHECK(has(refused, "Nothing was changed."));
  CHECK(orders_there(db));
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);

  // With it, the rollback runs and the record says who acknowledged what, and how.
  auto done = rbtest::run_runbook(dir, db, "rollback.lua",
                                  {"--yes", "--set", "method=down", "--ack", "drop-table@0001_orders.down.sql", "--json"});
  INFO(done.all());
  CHECK(done.code == 0);
  CHECK(db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'orders'") == 0);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 0);
  bool acked = false;
  const auto record = rbtest::record_of(done.out);
  for (const auto& step : record["steps"])
    for (const auto& e : step["events"])
      if (e["event"] == "acknowledgement" && e["finding"] == "drop-table@0001_orders.down.sql" && e["how"] == "--ack")
        acked = true;
  CHECK(acked);
}

TEST_CASE("property: no rollback, by down scripts or by restore, undoes a dropping migration without its acknowledgement",
          "[rollback][ack][property]") {
  // A restore undoes the same migrations as their down scripts (here: the table and its rows
  // go), so it asks the same acknowledgement.
  TempDir dir;
  write_chain(dir);
  std::size_t changed = 0, runs = 0;
  for (const std::string method : {"down", "restore", "auto"}) {
    for (const bool yes : {false, true}) {
      for (const bool ack : {false, true}) {
        DYNAMIC_SECTION("method=" << method << " yes=" << yes << " ack=" << ack) {
          TempDatabase db("rb_rb_ack");
          // apply.lua backs up first (policy optional): the restore has its backup.
          REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "-q"}).code == 0);
          std::vector<std::string> args{"--set", "method=" + method};
          if (yes) args.push_back("--yes");
          if (ack) args.insert(args.end(), {"--ack", "drop-table@0001_orders.down.sql"});
          auto r = rbtest::run_runbook(dir, db, "rollback.lua", args);
          INFO(r.all());
          ++runs;
          const bool undone = db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'orders'") == 0;
          if (yes && ack) {
            CHECK(r.code == 0);
            CHECK(undone);
            ++changed;
          } else {
            CHECK(r.code == 3);
            CHECK(orders_there(db));
            CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
            if (!ack) CHECK(has(r, "--ack drop-table@0001_orders.down.sql"));
          }
        }
      }
    }
  }
  WARN("rollback acknowledgement walk: " << runs << " runs, " << changed << " rolled back");
}

TEST_CASE("after a restore-rollback the whole post-verify runs: its schema against the one recorded there, and a "
          "failing health check fails the run",
          "[rollback][post-verify]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/0001_orders.up.sql", "CREATE TABLE orders (id int PRIMARY KEY);\n");
  dir.write("migrations/0002_notes.up.sql", "CREATE TABLE notes (id int);\n");  // no down script: a restore
  auto first = rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0001", "--json"});
  REQUIRE(first.code == 0);
  const std::string first_run = rbtest::record_of(first.out)["run_id"];
  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "-q"}).code == 0);

  auto restored = rbtest::run_runbook(dir, db, "rollback.lua", {"--yes", "--json"});
  INFO(restored.all());
  REQUIRE(restored.code == 0);
  CHECK(db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'notes'") == 0);
  // The restored database has the schema the first apply recorded at that ledger position.
  std::map<std::string, std::string> results, details;
  const auto record = rbtest::record_of(restored.out);
  for (const auto& c : record["checks"]) {
    results[c["name"].get<std::string>()] = c["result"].get<std::string>();
    details[c["name"].get<std::string>()] = c["detail"].get<std::string>();
  }
  CHECK(results["ledger consistent"] == "PASS");
  CHECK(results["expected schema"] == "PASS");
  CHECK(details["expected schema"].find("recorded by run " + first_run) != std::string::npos);
  CHECK(results["foreign-key orphans"] == "PASS");
  CHECK(results["invalid indexes"] == "PASS");

  // Apply again, then restore under an environment whose health endpoint is down: the restore
  // is done, and the run says the service is not healthy (exit 4).
  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "-q"}).code == 0);
  dir.write("environments.lua", R"(return { prod = { database_env = "DATABASE_URL",
    health_checks = { { name = "api health", url = "http://127.0.0.1:9/health", timeout = 2 } } } })");
  auto unhealthy = rbtest::run_runbook(dir, db, "rollback.lua", {"--yes", "--env", "prod"});
  INFO(unhealthy.all());
  CHECK(unhealthy.code == 4);
  CHECK(db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'notes'") == 0);
  CHECK(has(unhealthy, "api health: FAIL"));
}
