// ^C during a run: the statement in flight is cancelled, its migration rolls back whole, the
// run stops before the next one, exits 3 (aborted) and leaves a record that says so.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_support.hpp"

extern char** environ;

TEST_CASE("^C cancels the migration in flight, which rolls back whole; exit code 3", "[cli][interrupt]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  dir.write("migrations/0001_fast.up.sql", "CREATE TABLE fast (id int);\n");
  dir.write("migrations/0002_slow.up.sql", "CREATE TABLE slow (id int);\nSELECT pg_sleep(30);\n");
  dir.write("migrations/0003_next.up.sql", "CREATE TABLE next_one (id int);\n");

  const std::string url = "DATABASE_URL=" + db.url();
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  env_strings.push_back(url);
  env_strings.push_back("NO_COLOR=1");
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args{RUNBOOK_BINARY, "apply.lua", "--yes", "--journal", dir.path() + "/journal"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  const std::string log = dir.path() + "/output.txt";
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  posix_spawn_file_actions_addchdir_np(&actions, dir.path().c_str());
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);

  // Wait until the slow migration is running, then interrupt the runner we started.
  for (int i = 0; i < 200 && db.count("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
                                      "AND pid <> pg_backend_pid()") == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto interrupted_at = std::chrono::steady_clock::now();
  REQUIRE(kill(pid, SIGINT) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  // Cancelled, not waited for: well before the 30 s sleep would have ended.
  CHECK(std::chrono::steady_clock::now() - interrupted_at < std::chrono::seconds(15));
  const std::string output = rbtest::read_file(log);
  INFO(output);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  CHECK(output.find("0002_slow.up.sql was cancelled by the operator") != std::string::npos);
  // The migration before stays committed; the one in flight rolled back whole (its first
  // statement too); the next one never ran.
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0001_fast.up.sql'") == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
  CHECK(db.count("SELECT to_regclass('public.slow') IS NULL") == 1);
  CHECK(db.count("SELECT to_regclass('public.next_one') IS NULL") == 1);
  auto records = rbtest::files_in(dir.path() + "/journal", ".json");
  REQUIRE(records.size() == 1);
  auto rec = nlohmann::json::parse(rbtest::read_file(records[0]));
  CHECK(rec["status"] == "aborted");
  CHECK(rec["exit_code"] == 3);
}
