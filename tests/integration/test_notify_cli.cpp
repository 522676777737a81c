// Notifications (issue 12, part 3): the environment's webhooks receive the start and then the
// success or failure of a run, with its run id, on a real HTTP server on loopback; an
// unreachable webhook is a warning and the apply still succeeds; a dry-run prints what it would
// send and sends nothing.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "engine/shell.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

std::vector<nlohmann::json> received(const rbtest::HttpServer& server, const std::string& key) {
  rb::Command c;
  c.argv = {"curl", "-sS", server.url("/received/" + key)};
  c.timeout_s = 30;
  const auto list = nlohmann::json::parse(rb::run_command(c).out);
  std::vector<nlohmann::json> out;
  for (const auto& body : list) out.push_back(nlohmann::json::parse(body.get<std::string>()));
  return out;
}

void write_env(const TempDir& dir, const std::string& notify) {
  dir.write("environments.lua", "return { team = { database_env = 'TEAM_URL', notify = {\n" + notify + "\n} } }\n");
}
}  // namespace

TEST_CASE("notify: start, then success or failure, with the run id; slack format; only the events asked", "[cli][notify]") {
  rbtest::HttpServer server;
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  write_env(dir, "  { url = '" + server.url("/hook/all") + "', on = { 'start', 'success', 'failure' }, format = 'json' },\n"
                 "  { url = '" + server.url("/hook/chat") + "', on = { 'failure' }, format = 'slack' },");
  const std::map<std::string, std::string> env{{"TEAM_URL", db.url()}};
  const auto ok = rbtest::run_runbook(dir, db, "apply.lua", {"--env", "team", "--yes", "--json"}, env);
  INFO(ok.all());
  REQUIRE(ok.code == 0);
  const std::string run_id = rbtest::events_of(ok.out, "run").at(0)["run_id"];
  auto all = received(server, "all");
  REQUIRE(all.size() == 2);
  CHECK(all[0]["event"] == "start");
  CHECK(all[0]["run_id"] == run_id);
  CHECK(all[0]["runbook"] == "apply");
  CHECK(all[0]["environment"] == "team");
  CHECK(all[1]["event"] == "success");
  CHECK(all[1]["run_id"] == run_id);
  CHECK(all[1]["exit_code"] == 0);
  CHECK(all[1]["record"].get<std::string>().find(run_id + ".json") != std::string::npos);
  CHECK(received(server, "chat").empty());  // it asked for failures only
  // Each delivery is in the record; the webhook's path (its secret) is not printed.
  const auto notes = rbtest::events_of(ok.out, "notification");
  REQUIRE(notes.size() == 2);
  CHECK(notes[0]["delivered"] == true);
  CHECK(ok.all().find("/hook/all") == std::string::npos);

  dir.write("migrations/0014_broken.up.sql", "SELECT * FROM no_such_table;\n");
  const auto failed = rbtest::run_runbook(dir, db, "apply.lua", {"--env", "team", "--yes"}, env);
  CHECK(failed.code == 1);
  all = received(server, "all");
  REQUIRE(all.size() == 4);
  CHECK(all[2]["event"] == "start");
  CHECK(all[3]["event"] == "failure");
  CHECK(all[3]["status"] == "failed");
  CHECK(all[3]["exit_code"] == 1);
  CHECK(all[3]["summary"].get<std::string>().find("failed at step apply") != std::string::npos);
  const auto chat = received(server, "chat");
  REQUIRE(chat.size() == 1);
  CHECK(chat[0]["text"].get<std::string>().find("apply on team failed at step apply") != std::string::npos);
  CHECK(chat[0]["text"].get<std::string>().find(all[3]["run_id"].get<std::string>()) != std::string::npos);
}

TEST_CASE("notify: an unreachable webhook warns and the apply succeeds; dry-run sends nothing", "[cli][notify]") {
  rbtest::HttpServer server;
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  const int dead_port = rbtest::unused_port();
  const std::string dead = "http://127.0.0.1:" + std::to_string(dead_port) + "/hook";
  write_env(dir, "  { url = '" + dead + "' },\n  { url = '" + server.url("/hook/dry") + "' },");
  const std::map<std::string, std::string> env{{"TEAM_URL", db.url()}};
  const auto dry = rbtest::run_runbook(dir, db, "apply.lua", {"--env", "team", "--dry-run"}, env);
  INFO(dry.all());
  CHECK(dry.code == 0);
  CHECK(has(dry, "would notify http://127.0.0.1:" + std::to_string(server.port()) + "/… (start, json): {"));
  CHECK(received(server, "dry").empty());

  const auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--env", "team", "--yes", "--json"}, env);
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "the start notification to http://127.0.0.1:" + std::to_string(dead_port) + "/… was not delivered after 3 attempt(s)"));
  CHECK(has(r, "the run goes on"));
  CHECK(rbtest::psql(db, "SELECT count(*) FROM public.schema_migrations") == "13\n");
  bool undelivered = false;
  for (const auto& n : rbtest::events_of(r.out, "notification")) undelivered |= n["delivered"] == false && n["attempts"] == 3;
  CHECK(undelivered);
  CHECK(received(server, "dry").size() == 2);  // the live run's start and success

  write_env(dir, "  { url = 'ftp://example/hook' },");
  const auto bad = rbtest::run_runbook(dir, db, "apply.lua", {"--env", "team", "--yes"}, env);
  CHECK(bad.code == 2);
  CHECK(has(bad, "notify[1]: url must be an http:// or https:// URL"));
}
