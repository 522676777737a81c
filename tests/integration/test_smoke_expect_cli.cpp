// Smoke checks with expectations and before/after comparisons (issue 10, part 7) through the
// real CLI: `expect` on a smoke query's value, validated when the environments file is loaded;
// `compare` queries read by apply before it changes anything and compared by its verify step
// and by post-verify.lua run on its own.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

#include "cli_support.hpp"

using rbtest::CliResult;
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

bool row_says(const CliResult& r, const std::string& name, const std::string& what) {
  return row(r, name).find(what) != std::string::npos;
}

// An environment `prod` on APP_DB_URL with `body` (Lua table fields) added.
void environment(const TempDir& dir, const std::string& body) {
  dir.write("environments.lua", "return { prod = { database_env = \"APP_DB_URL\",\n" + body + "\n} }\n");
}

// items with 3 rows, applied by apply.lua (no environment): every database check passes.
void items_applied(const TempDir& dir, const TempDatabase& db) {
  dir.write("migrations/0001_items.up.sql",
            "CREATE TABLE items (id int PRIMARY KEY);\nINSERT INTO items SELECT generate_series(1, 3);\n"
            "CREATE TABLE tags (id int PRIMARY KEY);\nINSERT INTO tags VALUES (1), (2);\n");
  auto r = run(dir, db, "apply.lua", {"--yes"});
  INFO(r.all());
  REQUIRE(r.code == 0);
}

// The `compare_before` event of a --json run record (null when there is none).
nlohmann::json compare_before(const CliResult& r) {
  const auto record = rbtest::record_of(r.out);
  for (const auto& step : record["steps"])
    for (const auto& e : step["events"])
      if (e["event"] == "compare_before") return e;
  return nullptr;
}

struct Case {
  const char* name;
  const char* expect;
  bool pass;
};
}  // namespace

TEST_CASE("smoke expect: every operator passes and fails on a count, naming what it got and expected", "[smoke]") {
  TempDir dir;
  TempDatabase db;
  items_applied(dir, db);
  // SELECT count(*) FROM items returns 3.
  const Case cases[] = {
      {"eq pass", "= 3", true},   {"eq fail", "= 0", false},  {"ne pass", "!= 0", true}, {"ne fail", "!= 3", false},
      {"ge pass", ">= 3", true},  {"ge fail", ">= 4", false}, {"gt pass", "> 2", true},  {"gt fail", "> 3", false},
      {"le pass", "<= 3", true},  {"le fail", "<= 2", false}, {"lt pass", "< 4", true},  {"lt fail", "< 3", false},
  };
  std::string smoke = "smoke_sql = {\n";
  for (const auto& c : cases)
    smoke += std::string("  { name = \"") + c.name + "\", sql = \"SELECT count(*) FROM items\", expect = \"" + c.expect +
             "\" },\n";
  environment(dir, smoke + "}");
  auto r = run(dir, db, "post-verify.lua", {"--env", "prod"});
  INFO(r.all());
  CHECK(r.code == 4);
  for (const auto& c : cases) {
    INFO(c.name << " expect " << c.expect);
    const std::string name = std::string("smoke: ") + c.name;
    CHECK(row_says(r, name, c.pass ? "PASS" : "FAIL"));
    CHECK(row_says(r, name, std::string("got 3, expected ") + c.expect));
    if (!c.pass) CHECK(has(r, name + ": FAIL: got 3, expected " + c.expect));
  }
  CHECK(has(r, "6 of 19 checks failed"));
}

TEST_CASE("smoke expect: bare values, no row, NULL, non-numbers, and no expect as before", "[smoke]") {
  TempDir dir;
  TempDatabase db;
  items_applied(dir, db);
  environment(dir, R"(smoke_sql = {
    { name = "status ok", sql = "SELECT 'ok'", expect = "ok" },
    { name = "status degraded", sql = "SELECT 'degraded'", expect = "ok" },
    { name = "no orders", sql = "SELECT count(*) FROM items WHERE id < 0", expect = "= 0" },
    { name = "lua number", sql = "SELECT count(*) FROM items", expect = 3 },
    { name = "numeric text", sql = "SELECT 2.50::numeric", expect = "> 2" },
    { name = "no row", sql = "SELECT id FROM items WHERE false", expect = "= 0" },
    { name = "null", sql = "SELECT NULL::int", expect = ">= 1" },
    { name = "not a number", sql = "SELECT 'abc'", expect = ">= 1" },
    { name = "without expect", sql = "SELECT count(*) FROM items WHERE id < 0" },
    "SELECT NULL",
  })");
  auto r = run(dir, db, "post-verify.lua", {"--env", "prod"});
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(row_says(r, "smoke: status ok", "PASS"));
  CHECK(row_says(r, "smoke: status ok", "got \"ok\", expected ok"));
  CHECK(row_says(r, "smoke: status degraded", "FAIL"));
  CHECK(row_says(r, "smoke: status degraded", "got \"degraded\", expected ok"));
  CHECK(row_says(r, "smoke: no orders", "PASS"));
  CHECK(row_says(r, "smoke: no orders", "got 0, expected = 0"));
  CHECK(row_says(r, "smoke: lua number", "PASS"));
  CHECK(row_says(r, "smoke: lua number", "got 3, expected = 3"));
  CHECK(row_says(r, "smoke: numeric text", "PASS"));
  CHECK(row_says(r, "smoke: no row", "FAIL"));
  CHECK(row_says(r, "smoke: no row", "no row, expected = 0"));
  CHECK(row_says(r, "smoke: null", "FAIL"));
  CHECK(row_says(r, "smoke: null", "got NULL, not a number, expected >= 1"));
  CHECK(row_says(r, "smoke: not a number", "FAIL"));
  CHECK(row_says(r, "smoke: not a number", "got \"abc\", not a number, expected >= 1"));
  // Without expect, as before: any value but false or NULL passes, even a count of 0.
  CHECK(row_says(r, "smoke: without expect", "PASS"));
  CHECK(row_says(r, "smoke: without expect", "returned 0"));
  CHECK(row_says(r, "smoke: SELECT NULL", "FAIL"));
  CHECK(has(r, "5 of 17 checks failed"));
}

TEST_CASE("smoke expect: a bad expect is a configuration error (exit 2) naming the entry and the value", "[smoke]") {
  TempDir dir;
  TempDatabase db;
  items_applied(dir, db);
  dir.write("migrations/0002_more.up.sql", "INSERT INTO items VALUES (4);\n");
  environment(dir, R"(smoke_sql = {
    "SELECT 1",
    { name = "orders_count", sql = "SELECT count(*) FROM items", expect = ">> 1" },
    { sql = "SELECT 'x'", expect = "= ok" },
    { name = "empty", sql = "SELECT 1", expect = "" },
  })");
  for (const char* runbook : {"post-verify.lua", "apply.lua"}) {
    auto r = run(dir, db, runbook, {"--env", "prod", "--yes"});
    INFO(runbook << "\n" << r.all());
    CHECK(r.code == 2);
    CHECK(has(r, "environment prod:"));
    CHECK(has(r, R"(smoke_sql[2] "orders_count": expect ">> 1": > needs a number after it, got "> 1")"));
    CHECK(has(r, R"(smoke_sql[3] "SELECT 'x'": expect "= ok": = needs a number after it, got "ok")"));
    CHECK(has(r, R"(smoke_sql[4] "empty": expect "": is empty)"));
    CHECK_FALSE(has(r, "smoke_sql[1]"));
  }
  // Nothing ran: the second migration is still pending.
  CHECK(db.count("SELECT count(*) FROM items") == 3);
}

TEST_CASE("compare not_shrink: passes when a migration adds rows, in verify and in post-verify later", "[smoke][compare]") {
  TempDir dir;
  TempDatabase db;
  items_applied(dir, db);
  dir.write("migrations/0002_more_items.up.sql", "INSERT INTO items VALUES (4), (5);\n");
  environment(dir, R"(compare = { { name = "items", sql = "SELECT count(*) FROM items", must = "not_shrink" } })");
  auto r = run(dir, db, "apply.lua", {"--env", "prod", "--yes", "--json"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "compare: before the apply: items 3"));
  CHECK(row_says(r, "compare items", "PASS"));
  CHECK(row_says(r, "compare items", "3 before, 5 after: must not shrink"));
  const auto before = compare_before(r);
  REQUIRE(before.is_object());
  CHECK(before["queries"][0]["name"] == "items");
  CHECK(before["queries"][0]["value"] == 3);

  // post-verify on its own compares with the value the apply recorded.
  auto pv = run(dir, db, "post-verify.lua", {"--env", "prod"});
  INFO(pv.all());
  CHECK(pv.code == 0);
  CHECK(row_says(pv, "compare items", "PASS"));
  CHECK(row_says(pv, "compare items", "3 before, 5 after: must not shrink; before recorded by run "));
}

TEST_CASE("compare not_shrink: a migration deleting rows fails verify (exit 4) naming the query and both counts",
          "[smoke][compare]") {
  TempDir dir;
  TempDatabase db;
  items_applied(dir, db);
  dir.write("migrations/0002_prune.up.sql", "DELETE FROM items WHERE id > 1;\n");
  environment(dir, R"(compare = { { name = "items", sql = "SELECT count(*) FROM items", must = "not_shrink" } })");
  auto r = run(dir, db, "apply.lua", {"--env", "prod", "--yes"});
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(row_says(r, "compare items", "FAIL"));
  CHECK(row_says(r, "compare items", "3 before, 1 after: must not shrink"));
  CHECK(has(r, "compare items: FAIL: 3 before, 1 after: must not shrink"));
  CHECK(has(r, "1 of 8 checks failed"));
  // The migration itself is committed: verification is what failed.
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 2);

  // post-verify later still compares with the value read before that (failed) run changed anything.
  auto pv = run(dir, db, "post-verify.lua", {"--env", "prod"});
  INFO(pv.all());
  CHECK(pv.code == 4);
  CHECK(row_says(pv, "compare items", "3 before, 1 after: must not shrink; before recorded by run "));
}

TEST_CASE("compare equal and grow: each passes and fails with both values", "[smoke][compare]") {
  TempDir dir;
  TempDatabase db;
  items_applied(dir, db);
  dir.write("migrations/0002_more_items.up.sql", "INSERT INTO items VALUES (4);\n");
  environment(dir, R"(compare = {
    { name = "tags unchanged", sql = "SELECT count(*) FROM tags", must = "equal" },
    { name = "items grow", sql = "SELECT count(*) FROM items", must = "grow" },
    { name = "tags grow", sql = "SELECT count(*) FROM tags", must = "grow" },
    { name = "items equal", sql = "SELECT count(*) FROM items", must = "equal" },
    { name = "max id text", sql = "SELECT max(id)::text FROM tags", must = "equal" },
  })");
  auto r = run(dir, db, "apply.lua", {"--env", "prod", "--yes"});
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(row_says(r, "compare tags unchanged", "PASS"));
  CHECK(row_says(r, "compare tags unchanged", "2 before, 2 after: must stay equal"));
  CHECK(row_says(r, "compare items grow", "PASS"));
  CHECK(row_says(r, "compare items grow", "3 before, 4 after: must grow"));
  CHECK(row_says(r, "compare tags grow", "FAIL"));
  CHECK(row_says(r, "compare tags grow", "2 before, 2 after: must grow"));
  CHECK(row_says(r, "compare items equal", "FAIL"));
  CHECK(row_says(r, "compare items equal", "3 before, 4 after: must stay equal"));
  CHECK(row_says(r, "compare max id text", "PASS"));
  CHECK(has(r, "2 of 12 checks failed"));

  // Run again: nothing to apply, so nothing to compare (grow would fail on an unchanged count).
  auto again = run(dir, db, "apply.lua", {"--env", "prod", "--yes"});
  INFO(again.all());
  CHECK(again.code == 0);
  CHECK(has(again, "compare: nothing to apply, so nothing to compare"));
  CHECK(row_says(again, "compare tags grow", "PASS"));
  CHECK(row_says(again, "compare tags grow", "not compared: this run applied nothing"));
}

TEST_CASE("compare: --dry-run records the values before and skips the comparisons", "[smoke][compare][dry-run]") {
  TempDir dir;
  TempDatabase db;
  items_applied(dir, db);
  dir.write("migrations/0002_prune.up.sql", "DELETE FROM items;\n");
  environment(dir, R"(compare = { { name = "items", sql = "SELECT count(*) FROM items", must = "not_shrink" } })");
  auto r = run(dir, db, "apply.lua", {"--env", "prod", "--dry-run", "--json"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "compare: before the apply: items 3"));
  CHECK(has(r, "dry-run: compare: values before: items 3; the after comparisons are skipped, as nothing was applied"));
  CHECK(row(r, "compare items").empty());
  CHECK(compare_before(r)["queries"][0]["value"] == 3);
  CHECK(db.count("SELECT count(*) FROM items") == 3);

  // A dry-run's values are no baseline: post-verify has none to compare with (a WARN).
  auto pv = run(dir, db, "post-verify.lua", {"--env", "prod"});
  INFO(pv.all());
  CHECK(row_says(pv, "compare items", "WARN"));
  CHECK(row_says(pv, "compare items", "no value recorded before an apply"));
}

TEST_CASE("compare: a bad must, a missing sql or name is a configuration error (exit 2) naming the entry", "[smoke][compare]") {
  TempDir dir;
  TempDatabase db;
  items_applied(dir, db);
  environment(dir, R"(compare = {
    { name = "items", sql = "SELECT count(*) FROM items", must = "shrink" },
    { name = "tags", must = "equal" },
    { sql = "SELECT 1", must = "grow" },
    { name = "items", sql = "SELECT 1", must = "grow", expect = "= 1" },
  })");
  for (const char* runbook : {"apply.lua", "post-verify.lua"}) {
    auto r = run(dir, db, runbook, {"--env", "prod", "--yes"});
    INFO(runbook << "\n" << r.all());
    CHECK(r.code == 2);
    CHECK(has(r, R"(compare[1] "items": must "shrink" is not one of not_shrink, equal, grow)"));
    CHECK(has(r, R"(compare[2] "tags" needs sql)"));
    CHECK(has(r, "compare[3] needs a name"));
    CHECK(has(r, R"(compare[4] "items": the name is used twice)"));
    CHECK(has(r, R"(compare[4] "items": unknown key "expect")"));
  }
}
