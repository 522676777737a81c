// lint.lua: a pull-request gate from the parse tree, needing no database.
#include <catch2/catch.hpp>

#include "cli_support.hpp"

TEST_CASE("lint.lua gates on the fail_on level and names file, line and rule", "[cli][lint]") {
  rbtest::TempDir dir;
  dir.write("migrations/0001_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, email text);\n");
  dir.write("migrations/0002_cleanup.up.sql", "-- remove the old table\n\nDROP TABLE legacy_users;\n");
  dir.write("migrations/0003_index.up.sql", "CREATE INDEX users_email_idx ON users (email);\n");
  // No database anywhere: lint must not connect.
  const std::map<std::string, std::string> env{{"PGHOST", "/nonexistent"}, {"DATABASE_URL", ""}};
  auto journal = std::vector<std::string>{"--journal", dir.path() + "/journal"};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "lint.lua");
    args.insert(args.end(), journal.begin(), journal.end());
    return rbtest::run_cli(args, env, dir.path());
  };

  auto warnings_only = run({});
  INFO(warnings_only.all());
  CHECK(warnings_only.code == 0);  // default fail_on=error: these are warnings
  CHECK(warnings_only.err.find("0002_cleanup.up.sql:3") != std::string::npos);
  CHECK(warnings_only.err.find("drop-table") != std::string::npos);
  CHECK(warnings_only.err.find("0003_index.up.sql:1") != std::string::npos);
  CHECK(warnings_only.err.find("create-index-not-concurrently") != std::string::npos);

  auto destructive = run({"--set", "fail_on=destructive"});
  INFO(destructive.all());
  CHECK(destructive.code == 4);
  CHECK(destructive.err.find("0002_cleanup.up.sql:3 [drop-table]") != std::string::npos);
  CHECK(destructive.err.find("0003_index.up.sql:1 [create-index") == std::string::npos);  // not destructive

  auto any = run({"--set", "fail_on=warning"});
  CHECK(any.code == 4);

  dir.write("migrations/0004_concurrently.up.sql", "BEGIN;\nCREATE INDEX CONCURRENTLY users_id_idx ON users (id);\nCOMMIT;\n");
  auto error = run({});
  INFO(error.all());
  CHECK(error.code == 4);
  CHECK(error.err.find("0004_concurrently.up.sql:2 [concurrently-in-transaction]") != std::string::npos);
}

namespace {
// A data migration of `n` statements: INSERTs, with a DELETE without WHERE every 1,000th.
std::string many_statements(int n) {
  std::string sql = "-- generated data load\n";
  for (int i = 1; i <= n; ++i) {
    if (i % 1000 == 0)
      sql += "DELETE FROM items;\n";
    else
      sql += "INSERT INTO items (id, name) VALUES (" + std::to_string(i) + ", 'item " + std::to_string(i) + "');\n";
  }
  return sql;
}
}  // namespace

// Performance is measured by bench/sql-scaling, never asserted here: this checks the result.
TEST_CASE("lint.lua on a file of 40,000 statements finds every finding at its line", "[cli][lint][scaling]") {
  rbtest::TempDir dir;
  dir.write("migrations/0001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, name text);\n");
  dir.write("migrations/0002_load.sql", many_statements(40000));
  const std::map<std::string, std::string> env{{"PGHOST", "/nonexistent"}, {"DATABASE_URL", ""}};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "lint.lua");
    args.insert(args.end(), {"--journal", dir.path() + "/journal"});
    return rbtest::run_cli(args, env, dir.path());
  };

  auto r = run({});
  INFO(r.err.substr(0, 4000));
  CHECK(r.code == 0);  // warnings only at the default fail_on=error
  CHECK(r.err.find("2 migration(s), 40 finding(s)") != std::string::npos);
  // Line 1 is the comment: statement i is on line i + 1.
  CHECK(r.err.find("0002_load.sql:1001") != std::string::npos);
  CHECK(r.err.find("0002_load.sql:40001") != std::string::npos);
  CHECK(r.err.find("0002_load.sql:1000 ") == std::string::npos);

  auto destructive = run({"--set", "fail_on=destructive"});
  CHECK(destructive.code == 4);
  CHECK(destructive.err.find("40 finding(s) at or above fail_on=destructive") != std::string::npos);
  CHECK(destructive.err.find("0002_load.sql:20001 [delete-without-where]") != std::string::npos);
}

namespace {
std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}
}  // namespace

TEST_CASE("apply --dry-run prints a bounded excerpt of a huge migration, naming what it left out",
          "[cli][dry-run][scaling]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  const std::string small = "CREATE TABLE items (id int PRIMARY KEY, name text);\n";
  dir.write("migrations/0001_items.sql", small);
  std::string load;
  for (int i = 1; i <= 20000; ++i)
    load += "INSERT INTO items (id, name) VALUES (" + std::to_string(i) + ", 'item " + std::to_string(i) + "');\n";
  dir.write("migrations/0002_load.sql", load);
  // More than 20 pending: the review step names them without their SQL (shown with -v), so
  // this test sees the apply step's plan whatever the review prints.
  for (int i = 3; i <= 22; ++i) dir.write("migrations/" + std::to_string(10000 + i).substr(1) + "_c.sql", "SELECT " + std::to_string(i) + ";\n");

  auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--dry-run"});
  INFO(r.err.substr(0, 3000));
  REQUIRE(r.code == 0);
  CHECK(r.err.find("22 pending migrations: their SQL is shown with -v") != std::string::npos);
  const auto from = r.err.find("==> [9/11] apply");  // the dry-run plan, step by step
  const auto to = r.err.find("==> [10/11] verify");
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  const std::string plan = r.err.substr(from, to - from);
  INFO(plan.substr(0, 3000));
  // The small migration whole, as always; the huge one bounded (200 lines / 16 KiB).
  CHECK(plan.find("CREATE TABLE items (id int PRIMARY KEY, name text);\n") != std::string::npos);
  CHECK(plan.find("VALUES (1, 'item 1');") != std::string::npos);
  CHECK(plan.find("VALUES (20000, 'item 20000');") == std::string::npos);
  CHECK(occurrences(plan, "INSERT INTO items") <= 200);
  CHECK(plan.size() < 20 * 1024);
  CHECK(plan.find(" more lines (") != std::string::npos);
  CHECK(plan.find(" of 20,000 statements; the whole file: ./migrations/0002_load.sql, or run with -v") !=
        std::string::npos);
  CHECK(plan.find("[2/22] 0002_load.sql would apply") != std::string::npos);
  CHECK(plan.find("-- ./migrations/0022_c.sql: runs in one transaction") != std::string::npos);
  CHECK(plan.find("SELECT 22;\n") != std::string::npos);
}

TEST_CASE("the review step prints a bounded excerpt of a huge migration", "[cli][review][scaling]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  dir.write("migrations/0001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, name text);\n");
  std::string load;
  for (int i = 1; i <= 20000; ++i)
    load += "INSERT INTO items (id, name) VALUES (" + std::to_string(i) + ", 'item " + std::to_string(i) + "');\n";
  dir.write("migrations/0002_load.sql", load);

  auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--dry-run"});
  REQUIRE(r.code == 0);
  const auto review = r.err.find("----- ./migrations/0002_load.sql -----");
  const auto preflight = r.err.find("==> [4/");
  REQUIRE(review != std::string::npos);
  REQUIRE(preflight != std::string::npos);
  const std::string shown = r.err.substr(review, preflight - review);
  INFO(shown.substr(0, 2000));
  CHECK(shown.size() < 20 * 1024);
  CHECK(shown.find("VALUES (1, 'item 1');") != std::string::npos);
  CHECK(shown.find("VALUES (20000, 'item 20000');") == std::string::npos);
  CHECK(shown.find(" more lines (") != std::string::npos);
  CHECK(shown.find("the file has 20,000 statements; the whole file: ./migrations/0002_load.sql, or run with -v") !=
        std::string::npos);
}
