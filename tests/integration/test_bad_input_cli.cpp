// The bad-input suite (issue 9): every kind of bad input a reviewer tried, in one table. Each
// case must end with its documented exit code and a message naming the file, line or value,
// and leave the database as it was (nothing half-applied).
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {

struct BadInput {
  std::string name;
  std::function<void(const rbtest::TempDir&)> setup;  // writes the input into the scratch dir
  std::vector<std::string> args;                      // runbook and options
  int exit_code;
  std::vector<std::string> says;                      // fragments the output must contain
  std::map<std::string, std::string> env = {};
  bool applies_first = false;                         // 0001 applied before the bad input is added
};

const char* kRunbookHead = "local runbook = require \"runbook\"\n";

void migration(const rbtest::TempDir& d, const std::string& name, const std::string& sql) {
  d.write("migrations/" + name, sql);
}

std::vector<BadInput> cases() {
  const std::vector<std::string> apply{"apply.lua", "--yes"};
  auto with = [](std::vector<std::string> a, std::initializer_list<std::string> more) {
    a.insert(a.end(), more);
    return a;
  };
  return {
      // Lua runbooks
      {"a Lua syntax error", [](auto& d) { d.write("rb.lua", std::string(kRunbookHead) + "return runbook.define { steps = { }\n"); },
       {"rb.lua"}, 2, {"rb.lua:3:", "'}' expected"}},
      {"an error while the runbook loads",
       [](auto& d) { d.write("rb.lua", std::string(kRunbookHead) + "local cfg\nlocal x = cfg.missing\n"); }, {"rb.lua"}, 2,
       {"loading rb.lua", "rb.lua:3:"}},
      {"a file that is not a runbook", [](auto& d) { d.write("rb.lua", "return 42\n"); }, {"rb.lua"}, 2,
       {"rb.lua did not return a runbook"}},
      {"os.execute in a step",
       [](auto& d) {
         d.write("rb.lua", std::string(kRunbookHead) +
                               "return runbook.define { steps = { runbook.step('a', function() os.execute('true') end) } }\n");
       },
       {"rb.lua"}, 1, {"os.execute is not available to runbooks", "use shell.run"}},
      {"endless recursion in a step",
       [](auto& d) {
         d.write("rb.lua", std::string(kRunbookHead) + "local function f() return 1 + f() end\n"
                           "return runbook.define { steps = { runbook.step('a', function() f() end) } }\n");
       },
       {"rb.lua"}, 1, {"stack overflow"}},
      {"a step declared twice",
       [](auto& d) {
         d.write("rb.lua", std::string(kRunbookHead) + "local s = runbook.step('a', function() end)\n"
                           "return runbook.define { steps = { s, s } }\n");
       },
       {"rb.lua"}, 2, {"step a is declared twice"}},
      {"an unknown key in define",
       [](auto& d) { d.write("rb.lua", std::string(kRunbookHead) + "return runbook.define { colour = 'red' }\n"); },
       {"rb.lua"}, 2, {"unknown key \"colour\""}},
      // Migration directories
      {"two files with one version",
       [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); migration(d, "0001_b.sql", "SELECT 1;\n"); },
       apply, 2, {"duplicate migration version 0001", "0001_a.sql", "0001_b.sql"}},
      {"001 and 0001",
       [](auto& d) { migration(d, "001_a.sql", "CREATE TABLE a (id int);\n"); migration(d, "0001_b.sql", "SELECT 1;\n"); },
       apply, 2, {"duplicate migration version", "001_a.sql", "0001_b.sql"}},
      {"a file name that is not UTF-8",
       [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); migration(d, "0002_caf\xe9.sql", "SELECT 1;\n"); },
       apply, 2, {"0002_caf\\xe9.sql: the file name is not valid UTF-8"}},
      {"a symlink to a file outside the directory",
       [](auto& d) {
         migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n");
         const auto secret = d.write("elsewhere/credentials", "localhost:5432:*:app:TopSecretPw123\n");
         symlink(secret.c_str(), (d.path() + "/migrations/0002_b.sql").c_str());
       },
       apply, 2, {"0002_b.sql", "outside the migrations directory"}},
      {"a dangling symlink",
       [](auto& d) {
         migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n");
         symlink("/nonexistent/x.sql", (d.path() + "/migrations/0002_b.sql").c_str());
       },
       apply, 2, {"0002_b.sql"}},
      {"an SQL syntax error",
       [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); migration(d, "0002_bad.sql", "SELECT 1;\nSELEC 2;\n"); },
       apply, 2, {"0002_bad.sql:2: syntax error"}},
      {"an unterminated dollar quote",
       [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); migration(d, "0002_fn.sql", "SELECT $$ open;\n"); },
       apply, 2, {"0002_fn.sql:1: syntax error: unterminated dollar-quoted string"}},
      {"a NUL byte",
       [](auto& d) {
         migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n");
         migration(d, "0002_nul.sql", std::string("SELECT 1;\n\0\n", 12));
       },
       apply, 2, {"0002_nul.sql:2: the file contains a NUL byte"}},
      {"SQL that is not UTF-8",
       [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); migration(d, "0002_l1.sql", "SELECT 'caf\xe9';\n"); },
       apply, 2, {"0002_l1.sql", "not valid UTF-8"}},
      {"a psql meta-command",
       [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); migration(d, "0002_m.sql", "SELECT 1;\n\\i x.sql\n"); },
       apply, 2, {"0002_m.sql:2: psql meta-command \\i is not SQL"}},
      {"a FIFO where a migration should be",
       [](auto& d) {
         migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n");
         mkfifo((d.path() + "/migrations/0002_fifo.sql").c_str(), 0600);
       },
       apply, 2, {"0002_fifo.sql is not a regular file"}},
      {"a migration written in Go",
       [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); migration(d, "0002_b.go", "package x\n"); },
       apply, 2, {"0002_b.go"}},
      {"an older migration added after newer ones were applied",
       [](auto&) {}, apply, 4, {"0002_b.sql is missing in the database but newer migrations are applied (a gap)"}, {}, true},
      {"an applied migration edited afterwards",
       [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int, edited int);\n"); },
       apply, 4, {"0001_a.sql was edited after it was applied"}, {}, true},
      // Parameters, options, environments
      {"a duration parameter that is not one", [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); },
       with(apply, {"--set", "lock_timeout=5parsecs"}), 2, {"parameter lock_timeout (--set)", "\"5parsecs\""}},
      {"an unknown parameter", [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); },
       with(apply, {"--set", "nosuch=1"}), 2, {"--set nosuch: apply has no such parameter"}},
      {"a target that is not a migration", [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); },
       with(apply, {"--set", "target=abc"}), 2, {"target abc is not a migration"}},
      {"a --timeout that is not a duration", [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); },
       with(apply, {"--timeout", "soon"}), 2, {"--timeout: timeout \"soon\" is not a duration"}},
      {"--env without an environments file", [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); },
       with(apply, {"--env", "prod"}), 2, {"--env prod: environments file environments.lua not found"}},
      {"an environments file with a syntax error",
       [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); d.write("environments.lua", "return { prod =\n"); },
       with(apply, {"--env", "prod"}), 2, {"environments.lua:2:"}},
      {"a misspelt key in an environment",
       [](auto& d) {
         migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n");
         d.write("environments.lua", "return { prod = { databse_env = 'X' } }\n");
       },
       with(apply, {"--env", "prod"}), 2, {"environments.lua: environment prod", "databse_env"}},
      {"an environment whose database variable is unset",
       [](auto& d) {
         migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n");
         d.write("environments.lua", "return { prod = { database_env = 'RB_UNSET_VARIABLE_X' } }\n");
       },
       with(apply, {"--env", "prod"}), 2, {"RB_UNSET_VARIABLE_X"}},
      {"a step that does not exist", [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); },
       with(apply, {"--only", "nosuch"}), 2, {"--only nosuch: apply has no such step"}},
      {"an option that does not exist", [](auto& d) { migration(d, "0001_a.sql", "CREATE TABLE a (id int);\n"); },
       with(apply, {"--frobnicate"}), 2, {"--frobnicate"}},
  };
}

}  // namespace

TEST_CASE("bad input of every kind: its exit code, a message naming it, the database untouched",
          "[cli][bad-input]") {
  int passed = 0;
  const auto all = cases();
  for (const auto& c : all) {
    DYNAMIC_SECTION(c.name) {
      rbtest::TempDir dir;
      rbtest::TempDatabase db;
      std::string before_schema;
      if (c.applies_first) {
        // The state the bad input meets: 0001 (and for the gap, 0002) applied.
        if (c.name.find("older migration") != std::string::npos) {
          migration(dir, "0001_a.sql", "CREATE TABLE a (id int);\n");
          migration(dir, "0003_c.sql", "CREATE TABLE c (id int);\n");
          REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
          migration(dir, "0002_b.sql", "CREATE TABLE b (id int);\n");
        } else {
          migration(dir, "0001_a.sql", "CREATE TABLE a (id int);\n");
          REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
          c.setup(dir);
        }
        before_schema = db.schema_dump();
      } else {
        c.setup(dir);
      }
      auto env = c.env;
      env.emplace("DATABASE_URL", db.url());
      std::vector<std::string> args = c.args;
      args.insert(args.end(), {"--journal", dir.path() + "/journal"});
      const auto r = rbtest::run_cli(args, env, dir.path());
      INFO(r.all());
      CHECK(r.code == c.exit_code);
      for (const auto& s : c.says) CHECK(r.all().find(s) != std::string::npos);
      CHECK(r.all().find("TopSecretPw123") == std::string::npos);
      if (c.applies_first) {
        CHECK(db.schema_dump() == before_schema);
      } else {
        CHECK(db.count("SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace") == 0);
      }
      ++passed;
    }
  }
  static int checked = 0;
  checked += passed;
  if (checked == static_cast<int>(all.size()))
    WARN("bad-input suite: " << all.size() << " kinds of bad input, each with its exit code, its message and the "
         "database untouched");
}

// Found by fuzz_params: a --set value that is not UTF-8 failed the run with nlohmann's
// "invalid UTF-8 byte" when the record was written. It is recorded with U+FFFD instead.
TEST_CASE("a --set value that is not UTF-8 is recorded, not a reason for the run to fail", "[cli][bad-input]") {
  rbtest::TempDir dir;
  dir.write("rb.lua", std::string(kRunbookHead) +
                          "return runbook.define { params = { { name = 'ticket' } },\n"
                          "  steps = { runbook.step('a', function(ctx) print('ticket ' .. ctx.params.ticket) end) } }\n");
  for (const bool json : {false, true}) {
    std::vector<std::string> args{"rb.lua", "--set", "ticket=caf\xe9-\xff", "--journal", dir.path() + "/journal"};
    if (json) args.push_back("--json");
    const auto r = rbtest::run_cli(args, {}, dir.path());
    INFO(r.all());
    CHECK(r.code == 0);
    CHECK(r.all().find("invalid UTF-8") == std::string::npos);
    if (json) CHECK(rbtest::events_of(r.out, "run").at(0)["parameters"]["ticket"] == "caf\xef\xbf\xbd-\xef\xbf\xbd");
  }
  for (const auto& f : rbtest::files_in(dir.path() + "/journal", ".json"))
    CHECK(nlohmann::json::parse(rbtest::read_file(f))["status"] == "succeeded");
}
