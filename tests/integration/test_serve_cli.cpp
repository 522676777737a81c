// `runbook serve` (issue 11, part 5) and the HTML run report (part 4), through the real binary:
// seed 000's parity endpoint answered with curl, PASS on a healthy database and FAIL naming the
// migration after drift; the page and the report rendered in headless Chromium (Debian's), whose
// DOM must name every migration and whose screenshot must not be blank. Loopback only.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "engine/shell.hpp"

extern char** environ;

using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// `runbook serve ...` in the background; stopped (SIGTERM, by its pid) when it goes out of scope.
class Server {
 public:
  Server(const TempDir& dir, const std::vector<std::string>& args, const std::vector<std::string>& env) : log_(dir.path() + "/serve.log") {
    std::vector<std::string> all{"serve"};
    all.insert(all.end(), args.begin(), args.end());
    pid_ = rbtest::spawn_runbook(dir, all, env, log_);
  }
  ~Server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  // Waits until it listens (its log says so) or exits; the exit code, or -1 while it runs.
  int wait_ready() {
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
      if (log().find("serving http://") != std::string::npos) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -2;
  }
  std::string log() const { return rbtest::read_file(log_); }
  // SIGTERM, then waits for it: how many seconds it took to exit.
  double terminate() {
    const auto t0 = std::chrono::steady_clock::now();
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  std::string log_;
  pid_t pid_ = 0;
};

struct Http {
  int status = 0;
  std::string body;
};

Http curl(const std::string& url, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"curl", "-sS", "-o", "-", "-w", "\n%{http_code}"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  rb::Command c;
  c.argv = argv;
  c.timeout_s = 60;
  const auto r = rb::run_command(c);
  Http h;
  const auto nl = r.out.rfind('\n');
  h.body = r.out.substr(0, nl);
  h.status = std::atoi(r.out.substr(nl + 1).c_str());
  return h;
}

struct Rendered {
  std::string dom;
  int width = 0, height = 0, colours = 0;
};

// The page as headless Chromium renders it: its DOM, and how many colours its screenshot has.
Rendered chromium(const TempDir& dir, const std::string& url) {
  const std::string png = dir.path() + "/shot-" + std::to_string(std::hash<std::string>{}(url)) + ".png";
  const std::vector<std::string> common{"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                        "--no-first-run", "--user-data-dir=" + dir.path() + "/chromium",
                                        "--window-size=1280,1600"};
  rb::Command dom;
  dom.argv = common;
  dom.argv.insert(dom.argv.end(), {"--dump-dom", url});
  dom.timeout_s = 90;
  Rendered out;
  out.dom = rb::run_command(dom).out;
  rb::Command shot;
  shot.argv = common;
  shot.argv.insert(shot.argv.end(), {"--screenshot=" + png, url});
  shot.timeout_s = 90;
  rb::run_command(shot);
  rb::Command stats;
  stats.argv = {"python3", std::string(RUNBOOK_SOURCE_DIR) + "/tests/support/png_stats.py", png};
  std::istringstream(rb::run_command(stats).out) >> out.width >> out.height >> out.colours;
  return out;
}

}  // namespace

TEST_CASE("serve answers seed 000's parity endpoint: PASS when healthy, FAIL naming the migration after drift", "[cli][serve]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  const std::string journal = dir.path() + "/journal";
  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);

  const int port = free_port();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  Server server(dir, {"--listen", "127.0.0.1:" + std::to_string(port), "--set", "migrations=" + dir.path() + "/migrations", "--journal", journal},
                {"DATABASE_URL=" + db.url()});
  REQUIRE(server.wait_ready() == -1);
  INFO(server.log());

  auto healthy = curl(base + "/api/ops/db/migrations?limit=500");
  INFO(healthy.body);
  REQUIRE(healthy.status == 200);
  auto j = nlohmann::json::parse(healthy.body);
  CHECK(j["parity"]["status"] == "PASS");
  CHECK(j["parity"]["applied"] == 13);
  CHECK(j["missingInDb"].empty());
  CHECK(j["extraInDb"].empty());
  CHECK(j["hashMismatches"].empty());
  CHECK(j["lastRun"]["runbook"] == "apply");

  // Drift: a file edited after it was applied.
  dir.write("migrations/0005_create_user_summary_tables.up.sql", "-- edited after it was applied\nSELECT 1;\n");
  auto drifted = curl(base + "/api/ops/db/migrations");
  INFO(drifted.body);
  REQUIRE(drifted.status == 200);
  j = nlohmann::json::parse(drifted.body);
  CHECK(j["parity"]["status"] == "FAIL");
  REQUIRE(j["hashMismatches"].size() == 1);
  CHECK(j["hashMismatches"][0]["filename"] == "0005_create_user_summary_tables.up.sql");
  CHECK(j["hashMismatches"][0]["dbSha256"] != j["hashMismatches"][0]["fileSha256"]);

  // What it refuses, and says why.
  CHECK(curl(base + "/api/ops/db/migrations?env=prod").status == 404);
  CHECK(curl(base + "/api/ops/db/migrations?limit=zero").status == 400);
  CHECK(curl(base + "/nothing-here").status == 404);

  // The page, in a real browser: the environment's FAIL, the migration, the recent runs.
  const auto page = chromium(dir, base + "/");
  INFO(page.dom);
  CHECK(page.dom.find("Migration parity") != std::string::npos);
  CHECK(page.dom.find("FAIL") != std::string::npos);
  CHECK(page.dom.find("0005_create_user_summary_tables.up.sql") != std::string::npos);
  CHECK(page.dom.find("Recent runs") != std::string::npos);
  CHECK(page.width == 1280);
  CHECK(page.colours > 3);  // not a blank page
  // Nothing was recorded by answering: status.lua keeps no record.
  CHECK(rbtest::files_in(journal, ".json").size() == 1);
}

TEST_CASE("serve: a token, when set, is required of every request; a non-loopback address needs one", "[cli][serve]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  {
    Server open(dir, {"--listen", "0.0.0.0:" + std::to_string(free_port())}, {"DATABASE_URL=" + db.url()});
    CHECK(open.wait_ready() == 2);
    CHECK(open.log().find("RUNBOOK_SERVE_TOKEN") != std::string::npos);
  }
  {
    Server bad(dir, {"--listen", "127.0.0.1:http"}, {});
    CHECK(bad.wait_ready() == 2);
    CHECK(bad.log().find("the port must be a number") != std::string::npos);
  }
  const int port = free_port();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api/ops/db/migrations";
  Server server(dir, {"--listen", "127.0.0.1:" + std::to_string(port), "--set", "migrations=" + dir.path() + "/migrations"},
                {"DATABASE_URL=" + db.url(), "RUNBOOK_SERVE_TOKEN=tok-3141592653"});
  REQUIRE(server.wait_ready() == -1);
  CHECK(curl(url).status == 401);
  CHECK(curl(url, {"-H", "Authorization: Bearer wrong-token-xx"}).status == 401);
  const auto ok = curl(url, {"-H", "Authorization: Bearer tok-3141592653"});
  INFO(ok.body);
  CHECK(ok.status == 200);
  // Nothing applied yet: every migration is missing in the database, so parity FAILs (seed 000).
  const auto j = nlohmann::json::parse(ok.body);
  CHECK(j["parity"]["status"] == "FAIL");
  CHECK(j["missingInDb"].size() == 13);
  CHECK(ok.body.find("tok-3141592653") == std::string::npos);
}

TEST_CASE("each run leaves an HTML report that Chromium renders, naming every migration", "[cli][report]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  const auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "--json"});
  INFO(r.all());
  REQUIRE(r.code == 0);
  const auto end = rbtest::events_of(r.out, "end").at(0);
  REQUIRE(end["html"].is_string());
  const std::string report = end["html"];
  CHECK(std::filesystem::exists(report));
  const auto page = chromium(dir, "file://" + report);
  INFO(page.dom.substr(0, 4000));
  for (const auto& m : rbtest::record_of(r.out)["migrations"]) CHECK(page.dom.find(m["name"].get<std::string>()) != std::string::npos);
  for (const char* section : {"Steps", "Migrations (13)", "Locks on existing tables", "Checks", "succeeded"})
    CHECK(page.dom.find(section) != std::string::npos);
  CHECK(page.dom.find("<svg") != std::string::npos);
  CHECK(page.colours > 3);

  // A failed run's report names the failure: file, line, SQLSTATE.
  dir.write("migrations/0014_broken.up.sql", "SELECT 1;\nSELECT * FROM no_such_table;\n");
  const auto failed = rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "--json"});
  REQUIRE(failed.code == 1);
  const std::string failed_report = rbtest::events_of(failed.out, "end").at(0)["html"];
  const std::string html = rbtest::read_file(failed_report);
  CHECK(html.find("Failure") != std::string::npos);
  CHECK(html.find("0014_broken.up.sql:2") != std::string::npos);
  CHECK(html.find("42P01") != std::string::npos);
}

TEST_CASE("serve: a name that merely starts with 127. is not loopback", "[cli][serve]") {
  TempDir dir;
  Server named(dir, {"--listen", "127.example.com:" + std::to_string(free_port())}, {});
  CHECK(named.wait_ready() == 2);
  CHECK(named.log().find("not a loopback address: set RUNBOOK_SERVE_TOKEN") != std::string::npos);
}

TEST_CASE("serve: SIGTERM stops it promptly while a request waits on a database that never answers", "[cli][serve]") {
  TempDir dir;
  rbtest::SilentServer silent;  // accepts connections and never says a word
  const int port = free_port();
  Server server(dir, {"--listen", "127.0.0.1:" + std::to_string(port)},
                {"DATABASE_URL=postgresql://nobody@127.0.0.1:" + std::to_string(silent.port()) + "/none?connect_timeout=60"});
  REQUIRE(server.wait_ready() == -1);
  auto request = std::async(std::launch::async, [&] {
    return curl("http://127.0.0.1:" + std::to_string(port) + "/api/ops/db/migrations", {"--max-time", "50"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const double took = server.terminate();
  CHECK(took < 6);  // not the 30 s status.lua may take, nor the 60 s libpq would wait
  request.get();
}
