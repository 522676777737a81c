// The db primitive through Lua test runbooks (tests/lua/db_*.lua) run by the real binary.
#include <catch2/catch.hpp>

#include "cli_support.hpp"

TEST_CASE("the db primitive: types, parameters, transactions, locks, no password", "[cli][db]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  std::string url = db.url();
  url.replace(url.find(":///"), 4, "://postgres:Sup3rSecret@/");  // trust auth ignores it
  auto r = rbtest::run_cli({std::string(RUNBOOK_SOURCE_DIR) + "/tests/lua/db_primitive.lua", "--journal",
                            dir.path() + "/journal"},
                           {{"DATABASE_URL", url}}, dir.path());
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(r.all().find("Sup3rSecret") == std::string::npos);
  CHECK(db.count("SELECT count(*) FROM rb_probe") == 3);
}

TEST_CASE("in dry-run PostgreSQL itself refuses a runbook's write", "[cli][db][dry-run]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  const auto before = db.schema_dump();
  auto r = rbtest::run_cli({std::string(RUNBOOK_SOURCE_DIR) + "/tests/lua/db_readonly.lua", "--dry-run", "--journal",
                            dir.path() + "/journal"},
                           {{"DATABASE_URL", db.url()}}, dir.path());
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(r.err.find("refused as expected") != std::string::npos);
  CHECK(db.schema_dump() == before);
}
