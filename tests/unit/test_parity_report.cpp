// runbook serve's answers (engine/parity_report) and the HTML run report (engine/report_html):
// seed 000's shape from a status event, limits, the recent runs, escaping.
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/parity_report.hpp"
#include "engine/report_html.hpp"
#include "tests/support/temp_dir.hpp"

using nlohmann::json;

namespace {
json status_event() {
  return json{{"event", "status"},
              {"applied", 3},
              {"last_applied", "0003_c.sql"},
              {"pending", json::array()},
              {"missing_in_db", json::array()},
              {"extra_in_db", json::array()},
              {"hash_mismatches", json::array()},
              {"dirty", json::array()},
              {"drift", json::array()},
              {"parity", "PASS"}};
}
}  // namespace

TEST_CASE("parity response: PASS only when nothing is missing, extra, edited or dirty", "[parity_report]") {
  auto healthy = rb::parity_report::response("staging", status_event(), 500);
  CHECK(healthy["env"] == "staging");
  CHECK(healthy["parity"]["status"] == "PASS");
  CHECK(healthy["parity"]["applied"] == 3);
  CHECK(healthy["missingInDb"].empty());

  // Each category alone makes it FAIL; a pending migration is missing in the database (seed 000).
  for (const char* key : {"pending", "missing_in_db", "extra_in_db", "dirty"}) {
    INFO(key);
    auto st = status_event();
    st[key] = json::array({"0004_d.sql"});
    const auto r = rb::parity_report::response("staging", st, 500);
    CHECK(r["parity"]["status"] == "FAIL");
  }
  auto edited = status_event();
  edited["hash_mismatches"] = json::array({{{"filename", "0002_b.sql"}, {"ledger_sha256", "aa"}, {"file_sha256", "bb"}}});
  const auto r = rb::parity_report::response("prod", edited, 500);
  CHECK(r["parity"]["status"] == "FAIL");
  CHECK(r["hashMismatches"][0] == json{{"filename", "0002_b.sql"}, {"dbSha256", "aa"}, {"fileSha256", "bb"}});

  auto many = status_event();
  for (int i = 0; i < 10; ++i) many["pending"].push_back("p" + std::to_string(i));
  const auto limited = rb::parity_report::response("prod", many, 4);
  CHECK(limited["missingInDb"].size() == 4);
  CHECK(limited["truncated"] == true);
  CHECK(limited["parity"]["pending"] == 10);
}

TEST_CASE("recent runs: newest first, by environment, unreadable records skipped", "[parity_report]") {
  rbtest::TempDir d;
  auto write = [&](const std::string& name, const std::string& text) { std::ofstream(d.dir() / name) << text; };
  write("20261201T010000Z-aaaaaa.json", json{{"run_id", "20261201T010000Z-aaaaaa"}, {"runbook", "apply"}, {"environment", "prod"}}.dump());
  write("20261202T010000Z-bbbbbb.json", json{{"run_id", "20261202T010000Z-bbbbbb"}, {"runbook", "rollback"}, {"environment", "staging"}}.dump());
  write("20261203T010000Z-cccccc.json", "{ not json");
  write("20261204T010000Z-dddddd.json", json{{"run_id", "20261204T010000Z-dddddd"}, {"runbook", "apply"}, {"environment", "prod"},
                                             {"migrations", json::array({json::object(), json::object()})}}.dump());
  const auto all = rb::parity_report::recent_runs(d.dir().string(), "", 10);
  REQUIRE(all.size() == 3);
  CHECK(all[0]["run_id"] == "20261204T010000Z-dddddd");
  CHECK(all[0]["migrations"] == 2);
  CHECK(all[2]["run_id"] == "20261201T010000Z-aaaaaa");
  CHECK(rb::parity_report::recent_runs(d.dir().string(), "staging", 10).size() == 1);
  CHECK(rb::parity_report::recent_runs(d.dir().string(), "", 1).size() == 1);
  CHECK(rb::parity_report::recent_runs((d.dir() / "missing").string(), "", 10).empty());
}

TEST_CASE("the page and the run report escape every value", "[parity_report][report]") {
  auto st = status_event();
  st["extra_in_db"] = json::array({"<script>alert(1)</script>.sql"});
  const auto page = rb::parity_report::page({rb::parity_report::response("a&b", st, 10)}, {});
  CHECK(page.find("<script>") == std::string::npos);
  CHECK(page.find("&lt;script&gt;alert(1)&lt;/script&gt;.sql") != std::string::npos);
  CHECK(page.find("a&amp;b") != std::string::npos);

  json rec{{"run_id", "r1"}, {"runbook", "apply"}, {"status", "failed"}, {"started_at", "2026-12-01T01:00:00.000Z"},
           {"steps", json::array({{{"name", "apply"}, {"status", "failed"}, {"started_at", "2026-12-01T01:00:01.000Z"},
                                   {"duration_ms", 1500},
                                   {"events", json::array({{{"event", "failure"}, {"migration", "0002_<b>.sql"},
                                                            {"file", "m/0002_<b>.sql"}, {"line", 7}, {"sqlstate", "42P01"},
                                                            {"sql", "SELECT 1"}, {"status", "failed"}}})}}})},
           {"migrations", json::array({{{"name", "0001_a.sql"}, {"status", "applied"}, {"ms", 12.5}},
                                       {{"name", "0002_<b>.sql"}, {"status", "failed"}}})},
           {"checks", json::array()}, {"backups", json::array()}};
  const auto html = rb::report::html(rec);
  CHECK(html.find("<b>.sql") == std::string::npos);
  CHECK(html.find("0002_&lt;b&gt;.sql") != std::string::npos);
  CHECK(html.find("m/0002_&lt;b&gt;.sql:7") != std::string::npos);
  CHECK(html.find("42P01") != std::string::npos);
  CHECK(html.find("0001_a.sql") != std::string::npos);
  CHECK(html.find("Migrations (2)") != std::string::npos);
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("http") == std::string::npos);  // nothing to fetch: readable offline
}
