// --rehearse on a shadow (issue 10): the target's schema and ledger rows copied into an
// ephemeral cluster, the whole pending chain applied there for real — CONCURRENTLY and
// own-transaction files too — with a time and the table locks of each migration; the target is
// left as it was, and no cluster or server process outlives the run, also after ^C or SIGKILL.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_support.hpp"

extern char** environ;

namespace {

// CIC, a file with its own BEGIN/COMMIT blocks, a column type change (a rewrite).
void write_chain(rbtest::TempDir& dir, const std::string& own_extra = "") {
  dir.write("migrations/001_users.sql",
            "CREATE TABLE users (id serial PRIMARY KEY, email text, age integer);\n"
            "INSERT INTO users (email, age) SELECT 'u' || g, g FROM generate_series(1, 500) g;\n");
  dir.write("migrations/002_email_idx.sql", "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n");
  dir.write("migrations/003_own_tx.sql",
            "BEGIN;\nALTER TABLE users ADD COLUMN note text;\n" + own_extra + "COMMIT;\nBEGIN;\nUPDATE users SET note = 'n';\nCOMMIT;\n");
  dir.write("migrations/004_age_bigint.sql", "ALTER TABLE users ALTER COLUMN age TYPE bigint;\n");
}

// A directory the `postgres` user can reach (the ephemeral cluster's parent, as TMPDIR).
std::string cluster_parent(rbtest::TempDir& dir) {
  chmod(dir.path().c_str(), 0711);
  const std::string p = dir.path() + "/tmp";
  std::filesystem::create_directories(p);
  chmod(p.c_str(), 01777);
  return p;
}

// Server processes whose command line names `dir` (an ephemeral cluster's data directory).
int processes_under(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), {});
    if (cmd.find(dir) != std::string::npos) ++n;
  }
  return n;
}

bool alive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

// The postmaster pid of the one ephemeral cluster under `parent`, 0 when there is none (yet).
int postmaster_under(const std::string& parent) {
  for (const auto& name : rbtest::listing(parent)) {
    std::ifstream in(parent + "/" + name + "/data/postmaster.pid");
    int pid = 0;
    if (in >> pid) return pid;
  }
  return 0;
}

pid_t spawn_runbook(rbtest::TempDir& dir, const rbtest::TempDatabase& db, const std::vector<std::string>& args,
                    const std::string& tmpdir, const std::string& log) {
  return rbtest::spawn_runbook(dir, args, {"DATABASE_URL=" + db.url(), "TMPDIR=" + tmpdir}, log);
}

// Waits (up to 60 s) until the own-transaction migration sleeps on the shadow.
void wait_for_sleep_on_shadow(const std::string& parent, const std::string& log) {
  for (int i = 0; i < 1200; ++i) {
    if (rbtest::read_file(log).find("002_email_idx.sql rehearsed") != std::string::npos && postmaster_under(parent) > 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // into 003's pg_sleep
}

}  // namespace

TEST_CASE("a shadow rehearsal applies CONCURRENTLY, own-transaction and rewriting migrations for real, reports "
          "time and locks, and leaves the target and the machine as they were",
          "[cli][rehearse][shadow]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  write_chain(dir);
  const std::string parent = cluster_parent(dir);
  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=001_users.sql"}).code == 0);
  const auto schema = db.schema_dump();

  auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--rehearse", "--yes"}, {{"TMPDIR", parent}});
  INFO(r.all());
  REQUIRE(r.code == 0);
  // Every pending file ran, each with its time; none "not rehearsed".
  for (const char* name : {"002_email_idx.sql", "003_own_tx.sql", "004_age_bigint.sql"})
    CHECK(r.err.find(std::string(name) + " rehearsed in ") != std::string::npos);
  CHECK(r.all().find("not rehearsed") == std::string::npos);
  // The lock report names the strongest lock on the altered table and the rewrite.
  const auto type_change = r.err.find("004_age_bigint.sql rehearsed in ");
  REQUIRE(type_change != std::string::npos);
  const std::string line = r.err.substr(type_change, r.err.find('\n', type_change) - type_change);
  CHECK(line.find("ACCESS EXCLUSIVE on public.users (rewritten)") != std::string::npos);
  const auto own = r.err.find("003_own_tx.sql rehearsed in ");
  CHECK(r.err.substr(own, r.err.find('\n', own) - own).find("ACCESS EXCLUSIVE on public.users") != std::string::npos);
  const auto cic = r.err.find("002_email_idx.sql rehearsed in ");
  CHECK(r.err.substr(cic, r.err.find('\n', cic) - cic).find("SHARE UPDATE EXCLUSIVE on public.users") != std::string::npos);
  CHECK(r.err.find("lock report") != std::string::npos);

  // The target: same schema, same ledger; the shadow and its server are gone.
  CHECK(db.schema_dump() == schema);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
  CHECK(db.count("SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'note'") == 0);
  CHECK(rbtest::listing(parent).empty());
  CHECK(processes_under(parent) == 0);

  // The run record says what was proven where, per migration.
  nlohmann::json rehearsal;
  for (const auto& f : rbtest::files_in(dir.path() + "/journal", ".json")) {
    const auto j = nlohmann::json::parse(rbtest::read_file(f), nullptr, false);
    if (!j.is_object() || !j.contains("steps") || j["mode"] != "rehearse") continue;
    for (const auto& step : j["steps"])
      if (step.contains("events"))
        for (const auto& e : step["events"])
          if (e.is_object() && e.contains("event") && e["event"] == "rehearsal") rehearsal = e;
  }
  INFO(rehearsal.dump(2));
  REQUIRE(rehearsal.is_object());
  const auto& detail = rehearsal;
  CHECK(detail.value("where", "") == "shadow");
  REQUIRE(detail["migrations"].size() == 3);
  CHECK(detail["files"].size() == 3);
  bool rewrite_recorded = false;
  for (const auto& m : detail["migrations"])
    for (const auto& t : m["rewritten"]) rewrite_recorded = rewrite_recorded || t == "public.users";
  CHECK(rewrite_recorded);
}

TEST_CASE("a migration that fails on the shadow fails the rehearsal naming it; the target is untouched",
          "[cli][rehearse][shadow]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  write_chain(dir);
  dir.write("migrations/005_bad.sql", "ALTER TABLE users ADD COLUMN x int;\nALTER TABLE nope ADD COLUMN y int;\n");
  const std::string parent = cluster_parent(dir);
  const auto schema = db.schema_dump();
  auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--rehearse", "--yes"}, {{"TMPDIR", parent}});
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(r.err.find("on the shadow of " + db.name()) != std::string::npos);
  CHECK(r.err.find("005_bad.sql failed at statement 2 of 2") != std::string::npos);
  CHECK(db.schema_dump() == schema);
  CHECK(rbtest::listing(parent).empty());
  CHECK(processes_under(parent) == 0);
}

TEST_CASE("^C during a shadow rehearsal stops it (exit 3) and stops and deletes the shadow", "[cli][rehearse][shadow][interrupt]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  write_chain(dir, "SELECT pg_sleep(30);\n");
  const std::string parent = cluster_parent(dir);
  const std::string log = dir.path() + "/output.txt";
  const pid_t pid = spawn_runbook(dir, db, {"apply.lua", "--rehearse", "--yes", "--journal", dir.path() + "/journal"}, parent, log);
  wait_for_sleep_on_shadow(parent, log);
  const int postmaster = postmaster_under(parent);
  REQUIRE(postmaster > 0);
  const auto interrupted_at = std::chrono::steady_clock::now();
  REQUIRE(kill(pid, SIGINT) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO(rbtest::read_file(log));
  CHECK(std::chrono::steady_clock::now() - interrupted_at < std::chrono::seconds(20));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  for (int i = 0; i < 100 && alive(postmaster); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(alive(postmaster));
  CHECK(rbtest::listing(parent).empty());
  CHECK(db.count("SELECT to_regclass('public.users') IS NULL") == 1);
}

TEST_CASE("a shadow left by a runner killed with SIGKILL is stopped and deleted by the next rehearsal",
          "[cli][rehearse][shadow][interrupt]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  write_chain(dir, "SELECT pg_sleep(30);\n");
  const std::string parent = cluster_parent(dir);
  const std::string log = dir.path() + "/output.txt";
  const pid_t pid = spawn_runbook(dir, db, {"apply.lua", "--rehearse", "--yes", "--journal", dir.path() + "/journal"}, parent, log);
  wait_for_sleep_on_shadow(parent, log);
  const int postmaster = postmaster_under(parent);
  REQUIRE(postmaster > 0);
  REQUIRE(kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(alive(postmaster));  // nobody was left to stop it
  CHECK(rbtest::listing(parent).size() == 1);

  auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--rehearse", "--yes", "--set", "target=002_email_idx.sql"},
                               {{"TMPDIR", parent}});
  INFO(r.all());
  CHECK(r.code == 0);
  for (int i = 0; i < 100 && alive(postmaster); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(alive(postmaster));
  CHECK(rbtest::listing(parent).empty());
  CHECK(processes_under(parent) == 0);
}

TEST_CASE("rehearsing on the target itself is refused where the environment is not disposable", "[cli][rehearse][shadow]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  write_chain(dir);
  dir.write("environments.lua",
            "return { prod = { database_env = 'DATABASE_URL', disposable = false },\n"
            "         scratch = { database_env = 'DATABASE_URL', disposable = true } }\n");
  auto refused = rbtest::run_runbook(dir, db, "apply.lua", {"--rehearse", "--yes", "--env", "prod", "--set", "rehearse_on=target"});
  INFO(refused.all());
  CHECK(refused.code == 2);
  CHECK(refused.err.find("allowed only where the environment is marked disposable") != std::string::npos);
  CHECK(db.count("SELECT to_regclass('public.schema_migrations') IS NULL") == 1);
  auto allowed = rbtest::run_runbook(dir, db, "apply.lua", {"--rehearse", "--yes", "--env", "scratch", "--set", "rehearse_on=target"});
  INFO(allowed.all());
  CHECK(allowed.code == 0);
  CHECK(allowed.err.find("not rehearsed (cannot run inside a transaction)") != std::string::npos);
}
