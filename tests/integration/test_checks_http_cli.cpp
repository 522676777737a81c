// HTTP health and JSON checks through the shipped runbooks (post-verify, staging-rebuild's
// parity endpoint) against the real loopback server tests/support/http_server.py.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::HttpServer;
using rbtest::run_cli;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
CliResult run(const TempDir& dir, const TempDatabase& db, const std::string& runbook,
              const std::vector<std::string>& extra = {}) {
  return rbtest::run_runbook(dir, db, runbook, extra, {{"APP_DB_URL", db.url()}});
}

bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

// The line of the results table for check `name` ("" when there is none).
std::string row(const CliResult& r, const std::string& name) {
  std::istringstream in(r.all());
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + "  ", 0) == 0) return line;
  return "";
}

// The result of check `name` in the run record of a --json run.
std::string recorded(const CliResult& r, const std::string& name) {
  auto rec = rbtest::record_of(r.out);
  for (const auto& c : rec["checks"])
    if (c["name"] == name) return c["result"];
  return "(not recorded)";
}

// A database with a one-migration chain, fully applied: every database check passes.
void applied_chain(const TempDir& dir, const TempDatabase& db) {
  dir.write("migrations/0001_items.up.sql", "CREATE TABLE items (id int PRIMARY KEY);\n");
  auto r = run(dir, db, "apply.lua", {"--yes"});
  INFO(r.all());
  REQUIRE(r.code == 0);
}

std::string lua_string(const std::string& s) { return "[==[" + s + "]==]"; }
}  // namespace

TEST_CASE("post-verify passes when every HTTP status and JSON check passes", "[checks]") {
  HttpServer srv;
  TempDir dir;
  TempDatabase db;
  applied_chain(dir, db);
  dir.write("environments.lua",
            "return { prod = { database_env = \"APP_DB_URL\", health_checks = {\n"
            "  { name = \"api health\", url = " + lua_string(srv.url("/status/200")) + " },\n"
            "  { name = \"accepted\", url = " + lua_string(srv.url("/status/202")) + ", status = 202 },\n"
            "  { name = \"parity endpoint\", url = " +
                lua_string(srv.json_url(R"({"parity": {"status": "PASS", "missing": 0}})")) +
                ", json = { [\"parity.status\"] = \"PASS\", [\"parity.missing\"] = 0 } },\n"
            "  { name = \"quick enough\", url = " + lua_string(srv.url("/slow?ms=100")) + ", timeout = 5 },\n"
            "} } }\n");
  auto r = run(dir, db, "post-verify.lua", {"--env", "prod", "--json"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "check"));
  CHECK(has(r, "result"));
  CHECK(has(r, "detail"));
  for (const char* name : {"api health", "accepted", "parity endpoint", "quick enough", "ledger parity"}) {
    INFO(name);
    CHECK(row(r, name).find("PASS") != std::string::npos);
    CHECK(recorded(r, name) == "PASS");
  }
  CHECK(has(r, "all 11 checks passed"));
}

TEST_CASE("post-verify fails (exit 4) on a status mismatch; a JSON mismatch; a timeout and a refused connection",
          "[checks]") {
  HttpServer srv;
  TempDir dir;
  TempDatabase db;
  applied_chain(dir, db);
  const int closed_port = rbtest::unused_port();
  dir.write("environments.lua",
            "return { prod = { database_env = \"APP_DB_URL\", health_checks = {\n"
            "  { name = \"api health\", url = " + lua_string(srv.url("/status/200")) + " },\n"
            "  { name = \"unavailable\", url = " + lua_string(srv.url("/status/503")) + " },\n"
            "  { name = \"parity json\", url = " +
                lua_string(srv.json_url(R"({"parity": {"status": "FAIL"}})")) +
                ", json = { [\"parity.status\"] = \"PASS\" } },\n"
            "  { name = \"json missing field\", url = " + lua_string(srv.json_url(R"({"other": 1})")) +
                ", json = { [\"parity.status\"] = \"PASS\" } },\n"
            "  { name = \"too slow\", url = " + lua_string(srv.url("/slow?ms=4000")) + ", timeout = 1 },\n"
            "  { name = \"nobody listens\", url = " +
                lua_string("http://127.0.0.1:" + std::to_string(closed_port) + "/health") + ", timeout = 2 },\n"
            "} } }\n");
  auto r = run(dir, db, "post-verify.lua", {"--env", "prod", "--json"});
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(has(r, "5 of 13 checks failed"));
  CHECK(row(r, "api health").find("PASS") != std::string::npos);
  CHECK(row(r, "ledger parity").find("PASS") != std::string::npos);
  for (const char* name : {"unavailable", "parity json", "json missing field", "too slow", "nobody listens"}) {
    INFO(name);
    CHECK(row(r, name).find("FAIL") != std::string::npos);
    CHECK(recorded(r, name) == "FAIL");
  }
  CHECK(row(r, "unavailable").find("503") != std::string::npos);
  CHECK(row(r, "parity json").find("parity.status") != std::string::npos);
  CHECK(row(r, "parity json").find("FAIL") != std::string::npos);
  CHECK(row(r, "json missing field").find("parity.status") != std::string::npos);
  const auto slow = row(r, "too slow");
  CHECK((slow.find("timed out") != std::string::npos || slow.find("timeout") != std::string::npos ||
         slow.find("Timeout") != std::string::npos));
  const auto refused = row(r, "nobody listens");
  CHECK((refused.find("refused") != std::string::npos || refused.find("connect") != std::string::npos));
  CHECK(rbtest::record_of(r.out)["status"] == "verification failed");
}

TEST_CASE("post-verify's database checks fail on a missing table; index or a false smoke query", "[checks]") {
  TempDir dir;
  TempDatabase db;
  applied_chain(dir, db);
  dir.write("environments.lua", R"(return { prod = { database_env = "APP_DB_URL",
    expected_tables = { "public.items", "public.no_such_table" },
    expected_indexes = { "items_pkey", "no_such_index" },
    smoke_sql = { "SELECT count(*) > 0 FROM items", "SELECT 1",
      { name = "items counted", sql = "SELECT count(*) FROM items", expect = ">= 1" } },
  } })");
  auto r = run(dir, db, "post-verify.lua", {"--env", "prod"});
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(row(r, "expected tables").find("missing: public.no_such_table") != std::string::npos);
  CHECK(row(r, "expected indexes").find("missing: no_such_index") != std::string::npos);
  CHECK(row(r, "smoke: SELECT count(*) > 0 FROM items").find("FAIL") != std::string::npos);
  CHECK(row(r, "smoke: SELECT 1").find("PASS") != std::string::npos);
  // Without expect a count passes on 0 rows; with one it names what it got.
  CHECK(row(r, "smoke: items counted").find("FAIL") != std::string::npos);
  CHECK(row(r, "smoke: items counted").find("got 0, expected >= 1") != std::string::npos);
  CHECK(has(r, "4 of 12 checks failed"));
}

TEST_CASE("staging-rebuild fails closed when the HTTP parity endpoint says FAIL; and passes with PASS",
          "[checks][staging]") {
  HttpServer srv;
  TempDir dir;
  TempDatabase db;
  applied_chain(dir, db);
  rbtest::psql(db, "CREATE TABLE stray (id int)");
  auto env_with = [&](const std::string& status) {
    dir.write("environments.lua",
              "return { staging = { database_env = \"APP_DB_URL\", disposable = true, parity_url = " +
                  lua_string(srv.json_url(R"({"parity": {"status": ")" + status + R"("}})")) + " } }\n");
  };

  env_with("FAIL");
  auto failed = run(dir, db, "staging-rebuild.lua", {"--env", "staging", "--yes"});
  INFO(failed.all());
  CHECK(failed.code == 4);
  CHECK(row(failed, "parity endpoint").find("FAIL") != std::string::npos);
  CHECK(row(failed, "ledger parity").find("PASS") != std::string::npos);

  env_with("PASS");
  auto passed = run(dir, db, "staging-rebuild.lua", {"--env", "staging", "--yes"});
  INFO(passed.all());
  CHECK(passed.code == 0);
  CHECK(row(passed, "parity endpoint").find("PASS") != std::string::npos);
  CHECK(db.count("SELECT to_regclass('public.stray') IS NULL") == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
}
