// ^C during a run: the statement in flight is cancelled, its migration rolls back whole, the
// run stops before the next one, exits 3 (aborted) and leaves a record that says so.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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
  std::vector<std::string> args{rbtest::runbook_binary(), "apply.lua", "--yes", "--journal", dir.path() + "/journal"};
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
  for (int i = 0; i < 200 && db.count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(30)%' "
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
  CHECK(rec["status"] == "interrupted");
  CHECK(rec["exit_code"] == 3);
}

namespace {

// A runbook whose one step runs `sleep 30` through shell.run (live mode: it really runs).
const char* kSleeper =
    "local runbook = require \"runbook\"\n"
    "local shell = require \"shell\"\n"
    "return runbook.define {\n"
    "  name = \"sleeper\",\n"
    "  steps = {\n"
    "    runbook.step(\"nap\", \"sleep 30 through shell.run\", function(ctx)\n"
    "      shell.run{\"sleep\", \"30\"}\n"
    "    end),\n"
    "  },\n"
    "}\n";

// Starts `runbook ARGS...` in `dir` with its output in dir/output.txt; returns its pid.
pid_t spawn_runbook(const rbtest::TempDir& dir, const std::vector<std::string>& runbook_args,
                    const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> args = runbook_args;
  args.insert(args.end(), {"--journal", dir.path() + "/journal"});
  return rbtest::spawn_runbook(dir, args, extra_env, dir.path() + "/output.txt");
}

// Starts `runbook sleeper.lua` in `dir`.
pid_t spawn_sleeper(const rbtest::TempDir& dir) {
  dir.write("sleeper.lua", kSleeper);
  return spawn_runbook(dir, {"sleeper.lua"});
}

// Fields of /proc/<pid>/stat after the command name: state is [0], ppid [1], pgid [2].
std::vector<std::string> proc_stat(pid_t pid) {
  const std::string line = rbtest::read_file("/proc/" + std::to_string(pid) + "/stat");
  std::vector<std::string> fields;
  const auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return fields;
  std::istringstream rest(line.substr(close_paren + 2));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

std::string proc_name(pid_t pid) {
  std::string name = rbtest::read_file("/proc/" + std::to_string(pid) + "/comm");
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

// The `sleep` child of `parent`, waited for up to 10 s; 0 when none appeared.
pid_t wait_for_sleep_child(pid_t parent) {
  for (int i = 0; i < 200; ++i) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const pid_t pid = std::atoi(name.c_str());
      auto fields = proc_stat(pid);
      if (fields.size() > 2 && std::atoi(fields[1].c_str()) == parent && proc_name(pid) == "sleep")
        return pid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

// Gone, or a zombie nobody reaps (a container's PID 1 may not).
bool process_dead(pid_t pid) {
  auto fields = proc_stat(pid);
  return fields.empty() || fields[0] == "Z";
}

// Waits for `pid` up to `limit`; SIGKILLs it (the test's own child) when it takes longer.
bool wait_within(pid_t pid, std::chrono::seconds limit, int& status) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return false;
}

void check_stopped_by(int signal_number, const std::string& reason) {
  rbtest::TempDir dir;
  const pid_t pid = spawn_sleeper(dir);
  const pid_t sleeper = wait_for_sleep_child(pid);
  if (sleeper == 0) kill(pid, SIGKILL);
  REQUIRE(sleeper > 0);
  // The command runs in its own process group: a terminal's ^C reaches only the runner.
  auto fields = proc_stat(sleeper);
  REQUIRE(fields.size() > 2);
  CHECK(std::atoi(fields[2].c_str()) == sleeper);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));

  const auto signalled_at = std::chrono::steady_clock::now();
  REQUIRE(kill(pid, signal_number) == 0);
  int status = 0;
  const bool exited = wait_within(pid, std::chrono::seconds(5), status);
  const auto took = std::chrono::steady_clock::now() - signalled_at;
  const std::string output = rbtest::read_file(dir.path() + "/output.txt");
  INFO(output);
  INFO("exited after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  REQUIRE(exited);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  CHECK(process_dead(sleeper));
  CHECK(output.find("sleep 30 was stopped: interrupted by " + reason +
                    " (SIGTERM sent to its process group)") != std::string::npos);

  auto records = rbtest::files_in(dir.path() + "/journal", ".json");
  REQUIRE(records.size() == 1);
  auto rec = nlohmann::json::parse(rbtest::read_file(records[0]));
  INFO(rec.dump(2));
  // The core is renaming the final status to "interrupted"; either is right, "running" is not.
  CHECK(rec["status"] == "interrupted");
  CHECK(rec["status"] != "running");
  CHECK(rec["exit_code"] == 3);
}

}  // namespace

TEST_CASE("^C stops a shell.run command: SIGTERM to its process group, exit code 3", "[cli][interrupt][shell]") {
  check_stopped_by(SIGINT, "^C");
}

TEST_CASE("SIGTERM stops a shell.run command the same way, exit code 3", "[cli][interrupt][shell]") {
  check_stopped_by(SIGTERM, "SIGTERM");
}

// A real, long pg_dump: the backup waits for a table another session holds exclusively.
TEST_CASE("^C during apply-prod's pg_dump stops it within 5 s: exit 3, record interrupted, nothing applied",
          "[cli][interrupt][backup]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  dir.write("migrations/0001_t.up.sql", "CREATE TABLE t (id int);\n");
  auto base = rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "-q", "--set", "backup_dir=" + dir.path() + "/b0"});
  REQUIRE(base.code == 0);
  dir.write("migrations/0002_u.up.sql", "CREATE TABLE u (id int);\n");
  auto holder = db.connect();
  holder.run_script("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
  const pid_t pid = spawn_runbook(dir, {"apply-prod.lua", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, {"DATABASE_URL=" + db.url()});
  bool dumping = false;
  for (int i = 0; i < 300 && !dumping; ++i) {
    dumping = db.count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_dump' AND wait_event_type = 'Lock'") > 0;
    if (!dumping) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!dumping) kill(pid, SIGKILL);
  REQUIRE(dumping);
  const auto at = std::chrono::steady_clock::now();
  REQUIRE(kill(pid, SIGINT) == 0);
  int status = 0;
  const bool ended = wait_within(pid, std::chrono::seconds(5), status);
  const std::string output = rbtest::read_file(dir.path() + "/output.txt");
  INFO(output);
  CHECK(ended);
  CHECK(std::chrono::steady_clock::now() - at < std::chrono::seconds(5));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  holder.run_script("ROLLBACK");
  CHECK(db.count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_dump'") == 0);
  CHECK(db.count("SELECT to_regclass('public.u') IS NULL") == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
  nlohmann::json rec;
  for (const auto& f : rbtest::files_in(dir.path() + "/journal", ".json")) {
    auto r = nlohmann::json::parse(rbtest::read_file(f));
    if (r.value("runbook", "") == "apply-prod") rec = r;
  }
  CHECK(rec["status"] == "interrupted");
}

// Two real apply-prod runs on one database: the second cannot get the migration lock while the
// first applies, so it pauses no workers, enters no maintenance, takes no backup and — in its
// failure handler — resumes nothing.
TEST_CASE("two concurrent apply-prod runs: the one without the lock runs no hook and takes no backup",
          "[cli][plan][lock][concurrent]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  dir.write("migrations/0001_slow.up.sql", "CREATE TABLE slow (id int);\nSELECT pg_sleep(4);\n");
  const std::string d = dir.path();
  dir.write("environments.lua",
            "local function env(tag) return { database_env = 'TEST_DB_URL', backup_dir = '" + d + "/backups-' .. tag,\n"
            "  hooks = { pause_workers = { 'touch', '" + d + "/paused-' .. tag }, resume_workers = { 'touch', '" + d +
                "/resumed-' .. tag } } } end\n"
            "return { first = env('first'), second = env('second') }\n");
  const std::vector<std::string> env{"TEST_DB_URL=" + db.url()};
  const pid_t first = spawn_runbook(dir, {"apply-prod.lua", "--env", "first", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, env);
  bool applying = false;
  for (int i = 0; i < 300 && !applying; ++i) {
    applying = db.count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(4)%' AND pid <> pg_backend_pid()") > 0;
    if (!applying) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!applying) kill(first, SIGKILL);
  REQUIRE(applying);
  auto second = rbtest::run_cli({"apply-prod.lua", "--env", "second", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--set", "lock_wait=1s",
                                 "--journal", d + "/journal"},
                                {{"TEST_DB_URL", db.url()}}, d);
  INFO(second.all());
  CHECK(second.code == 3);
  CHECK(second.err.find("another runner holds the migration lock") != std::string::npos);
  CHECK(!std::filesystem::exists(d + "/paused-second"));
  CHECK(!std::filesystem::exists(d + "/resumed-second"));
  CHECK(rbtest::listing(d + "/backups-second").empty());
  int status = 0;
  REQUIRE(wait_within(first, std::chrono::seconds(30), status));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(std::filesystem::exists(d + "/paused-first"));
  CHECK(std::filesystem::exists(d + "/resumed-first"));
  CHECK(rbtest::listing(d + "/backups-first").size() == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
}

// ---- Lua code that loops, time limits, running out of memory ------------------------------------

namespace {

// A runbook whose step `spin` runs `body` (Lua), whose failure handler prints a marker, and
// whose file runs `at_load` when it is loaded.
std::string looping_runbook(const std::string& body, const std::string& at_load = "",
                            const std::string& step_options = "", const std::string& define_extra = "") {
  return "local runbook = require \"runbook\"\n" + at_load +
         "\nreturn runbook.define {\n"
         "  name = \"looper\",\n" + define_extra +
         "  steps = {\n"
         "    runbook.step(\"spin\", \"loops\", function(ctx)\n" + body + "\n    end" +
         (step_options.empty() ? "" : ", " + step_options) + "),\n"
         "    runbook.step(\"after\", \"must not run\", function(ctx) io.write(\"AFTER-RAN\\n\") end),\n"
         "  },\n"
         "  on_failure = function(ctx, failure) io.write(\"ON-FAILURE-RAN: \" .. failure.message .. \"\\n\") end,\n"
         "}\n";
}

nlohmann::json only_record(const rbtest::TempDir& dir) {
  auto records = rbtest::files_in(dir.path() + "/journal", ".json");
  REQUIRE(records.size() == 1);
  return nlohmann::json::parse(rbtest::read_file(records[0]));
}

}  // namespace

TEST_CASE("the first ^C, SIGTERM or SIGHUP stops Lua code that loops: in a step, at load time, behind pcall",
          "[cli][interrupt][bounds]") {
  const std::vector<std::pair<std::string, std::string>> loops{
      {"empty loop", "while true do end"},
      {"arithmetic loop (compiled by a JIT)", "local x = 0 while true do x = x + 1 end"},
      {"table writes", "local t, i = {}, 0 while true do i = i + 1 t[i % 100] = i end"},
      {"pcall swallowing every error", "while true do pcall(function() local x = 0 for i = 1, 1e12 do x = x + i end end) end"},
      {"at load time", ""},
  };
  const std::vector<std::pair<int, std::string>> signals{{SIGINT, "^C"}, {SIGTERM, "SIGTERM"}, {SIGHUP, "SIGHUP"}};
  for (const auto& [what, body] : loops) {
    for (const auto& [sig, reason] : signals) {
      DYNAMIC_SECTION(what << " / " << reason) {
        rbtest::TempDir dir;
        const bool at_load = body.empty();
        dir.write("looper.lua", at_load ? looping_runbook("", "local x = 0 while true do x = x + 1 end")
                                        : looping_runbook(body));
        const pid_t pid = spawn_runbook(dir, {"looper.lua"});
        std::this_thread::sleep_for(std::chrono::milliseconds(1200));
        REQUIRE(kill(pid, sig) == 0);
        int status = 0;
        const bool exited = wait_within(pid, std::chrono::seconds(5), status);
        const std::string output = rbtest::read_file(dir.path() + "/output.txt");
        INFO(output);
        REQUIRE(exited);  // the first signal was enough (a third would kill it outright)
        REQUIRE(WIFEXITED(status));
        if (at_load) {
          // Nothing ran yet: a load that cannot finish is an aborted start, exit 3.
          CHECK(WEXITSTATUS(status) == 3);
          CHECK(output.find("interrupted by the operator (" + reason + ")") != std::string::npos);
        } else {
          CHECK(WEXITSTATUS(status) == 3);
          CHECK(output.find("step spin: interrupted by the operator (" + reason + ")") != std::string::npos);
          CHECK(output.find("ON-FAILURE-RAN: interrupted by the operator (" + reason + ")") != std::string::npos);
          CHECK(output.find("AFTER-RAN") == std::string::npos);
          const auto rec = only_record(dir);
          CHECK(rec["status"] == "interrupted");
          CHECK(rec["exit_code"] == 3);
        }
      }
    }
  }
}

TEST_CASE("a step's timeout and the run's --timeout stop it like ^C: exit 3, failure handler, record 'timed out'",
          "[cli][interrupt][bounds]") {
  rbtest::TempDir dir;
  SECTION("a step timeout stops a Lua loop") {
    dir.write("looper.lua", looping_runbook("local x = 0 while true do x = x + 1 end", "", "{ timeout = \"1s\" }"));
    const auto r = rbtest::run_cli({"looper.lua", "--journal", dir.path() + "/journal"}, {}, dir.path());
    INFO(r.all());
    CHECK(r.code == 3);
    CHECK(r.err.find("step spin: timeout: step spin ran longer than its limit of 1s") != std::string::npos);
    CHECK(r.all().find("ON-FAILURE-RAN: timeout: step spin ran longer than its limit of 1s") != std::string::npos);
    CHECK(r.all().find("AFTER-RAN") == std::string::npos);
    CHECK(only_record(dir)["status"] == "timed out");
  }
  SECTION("the runbook's own timeout stops a shell command") {
    dir.write("looper.lua", looping_runbook("require(\"shell\").run{\"sleep\", \"30\"}", "", "", "  timeout = \"1s\",\n"));
    const auto started = std::chrono::steady_clock::now();
    const auto r = rbtest::run_cli({"looper.lua", "--journal", dir.path() + "/journal"}, {}, dir.path());
    INFO(r.all());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(15));
    CHECK(r.code == 3);
    CHECK(r.all().find("timeout: runbook looper ran longer than its limit of 1s") != std::string::npos);
    CHECK(r.all().find("ON-FAILURE-RAN") != std::string::npos);
    CHECK(only_record(dir)["status"] == "timed out");
  }
  SECTION("--timeout cancels a statement in flight") {
    rbtest::TempDatabase db;
    dir.write("looper.lua", looping_runbook("ctx:db():exec(\"SELECT pg_sleep(30)\")"));
    const auto started = std::chrono::steady_clock::now();
    const auto r = rbtest::run_cli({"looper.lua", "--timeout", "2s", "--journal", dir.path() + "/journal"},
                                   {{"DATABASE_URL", db.url()}}, dir.path());
    INFO(r.all());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(15));
    CHECK(r.code == 3);
    CHECK(r.all().find("timeout: runbook looper ran longer than its limit of 2s") != std::string::npos);
    CHECK(only_record(dir)["status"] == "timed out");
  }
  SECTION("a timeout that is not a duration is a usage error naming it") {
    dir.write("looper.lua", looping_runbook("", "", "{ timeout = \"soon\" }"));
    auto r = rbtest::run_cli({"looper.lua", "--journal", dir.path() + "/journal"}, {}, dir.path());
    CHECK(r.code == 2);
    CHECK(r.err.find("step spin: timeout \"soon\" is not a duration") != std::string::npos);
    dir.write("looper.lua", looping_runbook(""));
    r = rbtest::run_cli({"looper.lua", "--timeout", "5 parsecs", "--journal", dir.path() + "/journal"}, {}, dir.path());
    CHECK(r.code == 2);
    CHECK(r.err.find("--timeout: timeout \"5 parsecs\" is not a duration") != std::string::npos);
  }
}

TEST_CASE("a step that runs out of memory fails naming it, and the failure handler still runs", "[cli][bounds]") {
  rbtest::TempDir dir;
  dir.write("looper.lua",
            looping_runbook("local t, i = {}, 0 while true do i = i + 1 t[i] = string.rep(\"x\", 1000000) .. i end"));
  // The runner's address space is capped (its own child only) so the test machine keeps its memory.
  const std::string log = dir.path() + "/output.txt";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    struct rlimit limit {};
    limit.rlim_cur = limit.rlim_max = 3ull << 30;
    setrlimit(RLIMIT_AS, &limit);
    if (chdir(dir.path().c_str()) != 0) _exit(127);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    const std::string journal = dir.path() + "/journal";
    execl(rbtest::runbook_binary(), rbtest::runbook_binary(), "looper.lua", "--journal", journal.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  REQUIRE(wait_within(pid, std::chrono::seconds(60), status));
  const std::string output = rbtest::read_file(log);
  INFO(output);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(output.find("step spin: out of memory") != std::string::npos);
  CHECK(output.find("ON-FAILURE-RAN: out of memory") != std::string::npos);
  CHECK(output.find("attempt to index") == std::string::npos);
  CHECK(only_record(dir)["status"] == "failed");
}

TEST_CASE("a signal while the failure of a step is being built keeps that failure and names the signal",
          "[cli][interrupt]") {
  // The error's message takes a while to build (a slow __tostring): the signal lands inside the
  // message handler, where raising the stop would replace the failure with "error in error
  // handling" and lose which signal it was (the fault suite's SIGHUP trials once showed it).
  const std::string body =
      "error(setmetatable({}, {__tostring = function() local x = 0 for i = 1, 6e8 do x = x + i end "
      "return \"slow failure\" end}))";
  for (const auto& [sig, reason] : std::vector<std::pair<int, std::string>>{{SIGTERM, "SIGTERM"}, {SIGHUP, "SIGHUP"}}) {
    DYNAMIC_SECTION(reason) {
      rbtest::TempDir dir;
      dir.write("looper.lua", looping_runbook(body));
      const auto started = std::chrono::steady_clock::now();
      const pid_t pid = spawn_runbook(dir, {"looper.lua"});
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      REQUIRE(kill(pid, sig) == 0);
      int status = 0;
      const bool exited = wait_within(pid, std::chrono::seconds(30), status);
      const std::string output = rbtest::read_file(dir.path() + "/output.txt");
      INFO(output);
      REQUIRE(exited);
      // Only meaningful when the message was still being built at the signal.
      REQUIRE(std::chrono::steady_clock::now() - started > std::chrono::milliseconds(1000));
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 3);
      CHECK(output.find("error in error handling") == std::string::npos);
      CHECK(output.find("step spin: slow failure (interrupted by the operator: " + reason + ")") != std::string::npos);
      CHECK(output.find("ON-FAILURE-RAN: slow failure") != std::string::npos);
      CHECK(only_record(dir)["status"] == "interrupted");
    }
  }
}

TEST_CASE("error(nil) in a step says that the step gave no message", "[cli][bounds]") {
  rbtest::TempDir dir;
  dir.write("looper.lua", looping_runbook("error(nil)"));
  const auto r = rbtest::run_cli({"looper.lua", "--journal", dir.path() + "/journal"}, {}, dir.path());
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(r.err.find("step spin: the step raised an error without a message (error(nil))") != std::string::npos);
}

// ---- Partial work on the ledger: a migration outside a transaction cut off in the middle -------

TEST_CASE("a CREATE INDEX CONCURRENTLY cut off by SIGKILL and a lost backend is on the ledger: the next apply "
          "refuses naming the statement; an INVALID index is never recorded applied",
          "[cli][interrupt][partial]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  // The index expression sleeps per row, so the build runs long enough to be cut off.
  dir.write("migrations/0001_items.sql",
            "CREATE FUNCTION slow_id(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$\n"
            "BEGIN PERFORM pg_sleep(0.01); RETURN i; END $$;\n"
            "CREATE TABLE items (id int PRIMARY KEY);\n"
            "INSERT INTO items SELECT generate_series(1, 300);\n");
  dir.write("migrations/0002_items_slow_index.sql",
            "COMMENT ON TABLE items IS 'indexed by slow_id';\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_slow ON items (slow_id(id));\n");
  dir.write("migrations/0003_after.sql", "CREATE TABLE after_index (id int);\n");
  const std::string url = "DATABASE_URL=" + db.url();
  const std::string in_flight =
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND pid <> pg_backend_pid()";
  const std::string row = "SELECT status || ' ' || statements_done || ' ' || failed_statement FROM schema_migrations "
                          "WHERE filename = '0002_items_slow_index.sql'";
  const std::string valid = "SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('items_slow') AND indisvalid";
  const std::string invalid =
      "SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('items_slow') AND NOT indisvalid";

  const pid_t pid = spawn_runbook(dir, {"apply.lua", "--yes"}, {url});
  for (int i = 0; i < 300 && db.count(in_flight) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(db.count(in_flight) == 1);
  // While its runner holds the lock, the row is in progress: another run sees it pending, not dirty.
  CHECK(rbtest::psql(db, row) == "running 1 2\n");
  {
    const auto dry = rbtest::run_runbook(dir, db, "apply.lua", {"--dry-run"});
    INFO(dry.all());
    CHECK(dry.code == 0);
    CHECK(dry.all().find("cut off") == std::string::npos);
    CHECK(dry.all().find("0002_items_slow_index.sql") != std::string::npos);
  }
  // The runner dies, and so does its backend (a crash, a failover): the build stops half done.
  REQUIRE(kill(pid, SIGKILL) == 0);
  int status = 0;
  waitpid(pid, &status, 0);
  rbtest::psql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CREATE INDEX CONCURRENTLY%'"
                   " AND pid <> pg_backend_pid()");
  for (int i = 0; i < 200 && db.count(in_flight) > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(rbtest::psql(db, row) == "running 1 2\n");
  CHECK(db.count(invalid) == 1);

  // The next apply refuses: cut off, which statement may be partial, what to check.
  auto again = rbtest::run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(again.all());
  CHECK(again.code == 4);
  CHECK(again.all().find("0002_items_slow_index.sql was cut off while it ran outside a transaction") != std::string::npos);
  CHECK(again.all().find("statement 2 may be partial, 1 statement(s) before it completed") != std::string::npos);
  CHECK(again.all().find("DROP INDEX CONCURRENTLY") != std::string::npos);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0003_after.sql'") == 0);
  auto verify = rbtest::run_runbook(dir, db, "post-verify.lua");
  INFO(verify.all());
  CHECK(verify.code == 4);
  CHECK(verify.all().find("was cut off") != std::string::npos);

  // Resolved without dropping the index: IF NOT EXISTS skips the leftover, which stays INVALID,
  // so the migration is dirty, never applied.
  REQUIRE(rbtest::run_runbook(dir, db, "resolve.lua", {"--yes", "--set", "migration=0002", "--set", "as=rolled-back"}).code == 0);
  auto skipped = rbtest::run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(skipped.all());
  CHECK(skipped.code == 1);
  CHECK(skipped.all().find("statement 2 (line 2) left INVALID index(es) items_slow on items") != std::string::npos);
  CHECK(skipped.all().find("DROP INDEX CONCURRENTLY items_slow") != std::string::npos);
  CHECK(rbtest::psql(db, "SELECT status FROM schema_migrations WHERE filename = '0002_items_slow_index.sql'") == "dirty\n");
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0003_after.sql'") == 0);

  // The operator's repair: drop the leftover, resolve, apply.
  rbtest::psql(db, "DROP INDEX CONCURRENTLY items_slow");
  REQUIRE(rbtest::run_runbook(dir, db, "resolve.lua", {"--yes", "--set", "migration=0002", "--set", "as=rolled-back"}).code == 0);
  auto done = rbtest::run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(done.all());
  CHECK(done.code == 0);
  CHECK(db.count(valid) == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE status = 'applied'") == 3);
}

TEST_CASE("a lost connection names the migration, and a new session says what committed", "[cli][interrupt][lost]") {
  struct Case {
    std::string what, file, sql, expect;
  };
  const std::vector<Case> cases{
      {"in a transactional migration", "0002_slow.sql", "CREATE TABLE slow (id int);\nSELECT pg_sleep(30);\n",
       "is not in the ledger public.schema_migrations, so the server rolled it back whole"},
      {"outside a transaction", "0002_slow.sql",
       "CREATE TABLE slow (id int);\nCREATE INDEX CONCURRENTLY slow_idx ON slow (id);\nSELECT pg_sleep(30);\n",
       "is recorded running (statement 3 may be partial, 2 completed)"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      rbtest::TempDir dir;
      rbtest::TempDatabase db;
      dir.write("migrations/0001_first.sql", "CREATE TABLE first (id int);\n");
      dir.write("migrations/" + c.file, c.sql);
      const std::string sleeping =
          "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()";
      const pid_t pid = spawn_runbook(dir, {"apply.lua", "--yes"}, {"DATABASE_URL=" + db.url()});
      for (int i = 0; i < 300 && db.count(sleeping) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      REQUIRE(db.count(sleeping) == 1);
      rbtest::psql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(30)%'"
                       " AND pid <> pg_backend_pid()");
      int status = 0;
      REQUIRE(wait_within(pid, std::chrono::seconds(30), status));
      const std::string output = rbtest::read_file(dir.path() + "/output.txt");
      INFO(output);
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 1);
      CHECK(output.find("the connection to the server was lost during migration " + c.file) != std::string::npos);
      CHECK(output.find("terminating connection due to administrator command") != std::string::npos);
      CHECK(output.find("Checked in a new session: " + c.file + " " + c.expect) != std::string::npos);
      CHECK(output.find("not connected") == std::string::npos);
      CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0001_first.sql'") == 1);
    }
  }
}

TEST_CASE("the first ^C stops a connect to a server that never answers", "[cli][interrupt][bounds]") {
  rbtest::SilentServer silent;
  rbtest::TempDir dir;
  dir.write("migrations/0001_a.sql", "SELECT 1;\n");
  const pid_t pid = spawn_runbook(
      dir, {"apply.lua", "--yes"},
      {"DATABASE_URL=" + silent.url(), "PGCONNECT_TIMEOUT=60"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto signalled_at = std::chrono::steady_clock::now();
  REQUIRE(kill(pid, SIGINT) == 0);
  int status = 0;
  const bool exited = wait_within(pid, std::chrono::seconds(5), status);
  const std::string output = rbtest::read_file(dir.path() + "/output.txt");
  INFO(output);
  REQUIRE(exited);  // well before the 60 s connect timeout
  CHECK(std::chrono::steady_clock::now() - signalled_at < std::chrono::seconds(5));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  CHECK(output.find("interrupted (^C) while connecting") != std::string::npos);
}
