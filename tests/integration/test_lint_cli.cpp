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
