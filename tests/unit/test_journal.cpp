// The run record: JSON + Markdown rewritten after every event.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/journal.hpp"
#include "engine/redact.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using rbtest::TempDir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json read_json(const fs::path& p) {
  const std::string text = slurp(p);
  json j;
  REQUIRE_NOTHROW(j = json::parse(text));
  return j;
}

json header() {
  return {{"runbook", "apply-migrations"},
          {"file", "runbooks/apply-migrations.lua"},
          {"version", "1"},
          {"parameters", {{"target", "0003"}}},
          {"environment", "staging"},
          {"mode", "live"},
          {"operator", "alice"},
          {"host", "ops-1"}};
}

// Every string anywhere in a JSON document.
void walk_strings(const json& j, const std::function<void(const std::string&)>& fn) {
  if (j.is_string()) fn(j.get<std::string>());
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it) {
      fn(it.key());
      walk_strings(it.value(), fn);
    }
  if (j.is_array())
    for (const auto& e : j) walk_strings(e, fn);
}

}  // namespace

TEST_CASE("new_run_id and utc_now_iso have sortable shapes and ids are unique", "[journal]") {
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    const std::string id = rb::new_run_id();
    // 20261122T024512Z-3fa9c1
    REQUIRE(id.size() == 23);
    CHECK(id[8] == 'T');
    CHECK(id[15] == 'Z');
    CHECK(id[16] == '-');
    ids.insert(id);
  }
  CHECK(ids.size() >= 45);  // random suffixes: collisions within one second are rare
  const std::string now = rb::utc_now_iso();
  REQUIRE(now.size() == 24);
  CHECK(now[4] == '-');
  CHECK(now[10] == 'T');
  CHECK(now[19] == '.');
  CHECK(now.back() == 'Z');
}

TEST_CASE("Journal writes <dir>/<run_id>.json and .md and keeps them current", "[journal]") {
  TempDir d;
  const fs::path dir = d.dir() / "runs";  // created by the journal
  const std::string run_id = rb::new_run_id();
  rb::Journal j(dir.string(), run_id, header(), nullptr);
  const fs::path jp = dir / (run_id + ".json");
  const fs::path mp = dir / (run_id + ".md");
  CHECK(fs::equivalent(j.json_path(), jp));
  CHECK(fs::equivalent(j.markdown_path(), mp));
  REQUIRE(fs::exists(jp));
  REQUIRE(fs::exists(mp));

  json r = read_json(jp);
  CHECK(r["run_id"] == run_id);
  CHECK(r["status"] == "running");
  CHECK(r["runbook"] == "apply-migrations");
  CHECK(r["operator"] == "alice");
  CHECK(r["steps"].empty());

  SECTION("a killed run leaves a record of how far it got") {
    j.step_started("backup", "pg_dump before migrating");
    r = read_json(jp);
    REQUIRE(r["steps"].size() == 1);
    CHECK(r["steps"][0]["name"] == "backup");
    CHECK(r["steps"][0]["status"] == "running");
    CHECK(r["status"] == "running");
    CHECK_FALSE(r.contains("exit_code"));
    CHECK(slurp(mp).find("backup") != std::string::npos);

    j.event("backup", {{"path", "/backups/app.dump"}, {"size", 12345}, {"sha256", "abc123"}});
    r = read_json(jp);
    REQUIRE(r["backups"].size() == 1);
    CHECK(r["backups"][0]["path"] == "/backups/app.dump");
    CHECK(r["steps"][0]["events"].size() == 1);
    CHECK(slurp(mp).find("/backups/app.dump") != std::string::npos);

    j.step_finished("ok");
    j.step_started("migrate", "apply pending migrations");
    j.event("migration", {{"name", "0001_users.sql"}, {"sha256", "f00dfeed"}, {"status", "applied"}, {"ms", 12.5}});
    // Within a step, events reach the files at most a second later (not after each of
    // thousands of migrations): the next one after that second writes them all.
    r = read_json(jp);
    CHECK(r["migrations"].empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    j.event("migration", {{"name", "0002_orders.sql"}, {"sha256", "beefcafe"}, {"status", "applied"}, {"ms", 3.0}});
    // No finish(): this is what a SIGKILL leaves behind.
    r = read_json(jp);
    CHECK(r["status"] == "running");
    REQUIRE(r["steps"].size() == 2);
    CHECK(r["steps"][0]["status"] == "ok");
    CHECK(r["steps"][1]["name"] == "migrate");
    CHECK(r["steps"][1]["status"] == "running");
    REQUIRE(r["migrations"].size() == 2);
    CHECK(r["migrations"][0]["name"] == "0001_users.sql");
    CHECK(r["migrations"][1]["name"] == "0002_orders.sql");
    const std::string md = slurp(mp);
    CHECK(md.find("0001_users.sql") != std::string::npos);
    CHECK(md.find("migrate") != std::string::npos);
  }
}

TEST_CASE("Journal records step timing", "[journal]") {
  TempDir d;
  rb::Journal j(d.dir().string(), "run-timing", header(), nullptr);
  j.step_started("slow", "sleeps");
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  j.step_finished("ok");
  const json r = read_json(d.dir() / "run-timing.json");
  const json& s = r["steps"].at(0);
  CHECK(s["status"] == "ok");
  REQUIRE(s.contains("duration_ms"));
  CHECK(s["duration_ms"].get<long long>() >= 60);
  CHECK(s["duration_ms"].get<long long>() < 60000);
  CHECK(s["started_at"].is_string());
  CHECK(s["finished_at"].is_string());
  CHECK(s["started_at"].get<std::string>() <= s["finished_at"].get<std::string>());
  const std::string md = slurp(d.dir() / "run-timing.md");
  CHECK(md.find(std::to_string(s["duration_ms"].get<long long>()) + " ms") != std::string::npos);
}

TEST_CASE("Journal collects migrations, backups and checks at the top level", "[journal]") {
  TempDir d;
  rb::Journal j(d.dir().string(), "run-collect", header(), nullptr);
  j.step_started("pre", "");
  j.event("check", {{"name", "parity"}, {"result", "PASS"}, {"detail", "no drift"}});
  j.event("note", {{"text", "just a note"}});
  j.step_finished("ok");
  j.step_started("migrate", "");
  j.event("migration", {{"name", "0001_a.sql"}, {"sha256", "1111"}, {"status", "applied"}, {"ms", 3.0}});
  j.event("migration", {{"name", "0002_b.sql"}, {"sha256", "2222"}, {"status", "applied"}, {"ms", 4.0}});
  j.event("backup", {{"path", "/b/x.dump"}, {"size", 10}, {"sha256", "3333"}});
  j.step_finished("ok");
  j.finish("succeeded", 0);

  const json r = read_json(d.dir() / "run-collect.json");
  REQUIRE(r["migrations"].size() == 2);
  CHECK(r["migrations"][0]["name"] == "0001_a.sql");
  CHECK(r["migrations"][1]["name"] == "0002_b.sql");
  REQUIRE(r["backups"].size() == 1);
  CHECK(r["backups"][0]["sha256"] == "3333");
  REQUIRE(r["checks"].size() == 1);
  CHECK(r["checks"][0]["result"] == "PASS");
  // Other kinds stay in their step only.
  CHECK_FALSE(r.contains("notes"));
  REQUIRE(r["steps"].size() == 2);
  CHECK(r["steps"][0]["events"].size() == 2);
  CHECK(r["steps"][0]["events"][1]["event"] == "note");
  CHECK(r["steps"][1]["events"].size() == 3);
  CHECK(r["steps"][1]["events"][0]["event"] == "migration");

  const std::string md = slurp(d.dir() / "run-collect.md");
  CHECK(md.find("0002_b.sql") != std::string::npos);
  CHECK(md.find("/b/x.dump") != std::string::npos);
  CHECK(md.find("parity") != std::string::npos);
}

TEST_CASE("Journal events outside any step are kept", "[journal]") {
  TempDir d;
  rb::Journal j(d.dir().string(), "run-loose", header(), nullptr);
  j.event("check", {{"name", "early"}, {"result", "PASS"}});
  j.finish("succeeded", 0);
  const json r = read_json(d.dir() / "run-loose.json");
  REQUIRE(r["steps"].size() == 1);
  CHECK(r["steps"][0]["events"].size() == 1);
  CHECK(r["checks"].size() == 1);
}

TEST_CASE("Journal finish sets status and exit code in both files", "[journal]") {
  TempDir d;
  SECTION("success") {
    rb::Journal j(d.dir().string(), "run-ok", header(), nullptr);
    j.step_started("only", "");
    j.finish("succeeded", 0);
    const json r = read_json(d.dir() / "run-ok.json");
    CHECK(r["status"] == "succeeded");
    CHECK(r["exit_code"] == 0);
    CHECK(r["finished_at"].is_string());
    CHECK(r["steps"][0]["status"] != "running");  // the open step is closed
    CHECK_FALSE(r.contains("error"));
    CHECK(slurp(d.dir() / "run-ok.md").find("succeeded") != std::string::npos);
  }
  SECTION("failure") {
    rb::Journal j(d.dir().string(), "run-bad", header(), nullptr);
    j.step_started("migrate", "");
    j.finish("failed", 1, "migration 0002_b.sql failed at statement 2");
    const json r = read_json(d.dir() / "run-bad.json");
    CHECK(r["status"] == "failed");
    CHECK(r["exit_code"] == 1);
    CHECK(r["error"] == "migration 0002_b.sql failed at statement 2");
    CHECK(r["steps"][0]["status"] == "failed");
    CHECK(r["steps"][0]["error"] == "migration 0002_b.sql failed at statement 2");
    const std::string md = slurp(d.dir() / "run-bad.md");
    CHECK(md.find("failed") != std::string::npos);
    CHECK(md.find("statement 2") != std::string::npos);
    CHECK(md.find("| Exit code | 1 |") != std::string::npos);
  }
  // No temporary files are left behind.
  for (const auto& e : fs::directory_iterator(d.dir())) CHECK(e.path().extension() != ".tmp");
}

TEST_CASE("Journal redacts secrets in both files", "[journal]") {
  TempDir d;
  rb::Redactor red;
  const std::string secret = "pg-Passw0rd-9137";
  red.add(secret);
  rb::Journal j(d.dir().string(), "run-secret", header(), &red);
  j.step_started("connect", "connect with password " + secret);
  j.event("check", {{"name", "login"}, {"result", "PASS"}, {"detail", "used " + secret}});
  j.finish("failed", 1, "authentication failed for password " + secret);

  const std::string js = slurp(d.dir() / "run-secret.json");
  const std::string md = slurp(d.dir() / "run-secret.md");
  CHECK(js.find(secret) == std::string::npos);
  CHECK(md.find(secret) == std::string::npos);
  CHECK(js.find("***") != std::string::npos);
  CHECK(md.find("***") != std::string::npos);
  // Still valid JSON after masking, with the masked text in place.
  const json r = json::parse(js);
  CHECK(r["error"] == "authentication failed for password ***");
  CHECK(r["checks"][0]["detail"] == "used ***");
}

TEST_CASE("Journal redacts secrets that JSON escapes", "[journal]") {
  // Passwords may contain quotes and backslashes; JSON escapes those, and the secret
  // must not survive in the file in its escaped spelling.
  TempDir d;
  rb::Redactor red;
  const std::string secret = "pa\"ss\\w0rd";
  red.add(secret);
  rb::Journal j(d.dir().string(), "run-escaped", header(), &red);
  j.step_started("connect", "");
  j.finish("failed", 1, "login failed with " + secret);

  json r;
  REQUIRE_NOTHROW(r = json::parse(slurp(d.dir() / "run-escaped.json")));
  walk_strings(r, [&](const std::string& s) {
    INFO(s);
    CHECK(s.find(secret) == std::string::npos);
  });
  CHECK(slurp(d.dir() / "run-escaped.md").find(secret) == std::string::npos);
}

TEST_CASE("Journal with an empty directory keeps the record in memory only", "[journal]") {
  TempDir d;
  const auto cwd = fs::current_path();
  fs::current_path(d.dir());
  {
    rb::Journal j("", "run-mem", header(), nullptr);
    j.step_started("s", "");
    j.finish("succeeded", 0);
    CHECK(j.json_path().empty());
    CHECK(j.record()["status"] == "succeeded");
    CHECK(j.record()["exit_code"] == 0);
    CHECK(j.markdown().find("succeeded") != std::string::npos);
  }
  const bool empty = fs::is_empty(d.dir());
  fs::current_path(cwd);
  CHECK(empty);
}

// `--json` is this stream: every change of the record, as it happens, as one event.
TEST_CASE("Journal streams run, step, event and end events, redacted, in order", "[journal][events]") {
  TempDir d;
  rb::Redactor redactor;
  redactor.add("s3cr3t-token");
  std::vector<json> seen;
  {
    rb::Journal j(d.dir().string(), "run-stream", header(), &redactor, [&](const json& e) { seen.push_back(e); });
    j.step_started("apply", "apply the migrations");
    j.event("migration", {{"name", "0001_a.sql"}, {"status", "applied"}, {"note", "token s3cr3t-token"}});
    j.step_finished("ok");
    j.step_skipped("verify", "not selected");
    j.finish("failed", 1, "boom with s3cr3t-token");
    j.finish("failed", 1, "a second finish sends nothing more");
  }
  std::vector<std::string> kinds;
  for (const auto& e : seen) kinds.push_back(e.value("event", "?") + ":" + e.value("status", ""));
  CHECK(kinds == std::vector<std::string>{"run:", "step:running", "migration:applied", "step:ok", "step:skipped", "end:failed"});
  CHECK(seen.front()["schema_version"] == rb::events::kSchemaVersion);
  CHECK(seen.front()["run_id"] == "run-stream");
  CHECK(seen[2]["step"] == "apply");
  CHECK(seen.back()["exit_code"] == 1);
  CHECK(seen.back()["run_id"] == "run-stream");
  const std::string record = seen.back()["record"];
  CHECK(fs::path(record).is_absolute());
  CHECK(fs::exists(record));
  for (const auto& e : seen) {
    CHECK(e.contains("at"));
    CHECK(e.dump().find("s3cr3t-token") == std::string::npos);
  }
  // The record is made of the same events.
  const json r = read_json(d.dir() / "run-stream.json");
  CHECK(r["schema_version"] == rb::events::kSchemaVersion);
  CHECK(r["steps"][0]["events"][0]["event"] == "migration");
}

TEST_CASE("A record kept in memory streams an end event without a path", "[journal][events]") {
  std::vector<json> seen;
  rb::Journal j("", "run-mem", header(), nullptr, [&](const json& e) { seen.push_back(e); });
  j.finish("succeeded", 0);
  REQUIRE(seen.size() == 2);
  CHECK(seen.back()["event"] == "end");
  CHECK(seen.back()["record"].is_null());
}
