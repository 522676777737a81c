// engine/shell: running programs with pipes, timeouts, bounded capture.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "engine/cancel.hpp"
#include "engine/errors.hpp"
#include "engine/shell.hpp"

namespace {

rb::CommandResult run(std::vector<std::string> argv, double timeout_s = 0) {
  rb::Command c;
  c.argv = std::move(argv);
  c.timeout_s = timeout_s;
  return rb::run_command(c);
}

// True once the process is gone or a zombie (a container's PID 1 may never reap it).
bool process_dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  return close_paren == std::string::npos || line.substr(close_paren + 2, 1) == "Z";
}

bool becomes_dead(pid_t pid, std::chrono::milliseconds within) {
  auto until = std::chrono::steady_clock::now() + within;
  while (!process_dead(pid)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Forgets cancel requests before and after a test, so one test's ^C never leaks into another.
struct CancelReset {
  CancelReset() { rb::cancel::reset(); }
  ~CancelReset() { rb::cancel::reset(); }
};

// Calls rb::cancel::request(SIGINT) from another thread, as the host's signal handler would,
// once after each of `delays` (measured from construction); joined on destruction.
class RequestLater {
 public:
  explicit RequestLater(std::vector<std::chrono::milliseconds> delays)
      : thread_([delays] {
          auto start = std::chrono::steady_clock::now();
          for (auto d : delays) {
            std::this_thread::sleep_until(start + d);
            rb::cancel::request(SIGINT);
          }
        }) {}
  ~RequestLater() { thread_.join(); }
  RequestLater(const RequestLater&) = delete;
  RequestLater& operator=(const RequestLater&) = delete;

 private:
  std::thread thread_;
};

// True when no process is left in the group (kill(-pgid, 0) fails with ESRCH).
bool group_gone(pid_t pgid) { return ::kill(-pgid, 0) != 0 && errno == ESRCH; }

}  // namespace

TEST_CASE("run_command reports exit codes", "[shell]") {
  CHECK(run({"true"}).exit_code == 0);
  CHECK(run({"false"}).exit_code == 1);
  auto r = run({"sh", "-c", "exit 3"});
  CHECK(r.exit_code == 3);
  CHECK(r.term_signal == 0);
  CHECK_FALSE(r.timed_out);
  CHECK(r.duration_ms >= 0);
}

TEST_CASE("run_command reports a program ended by a signal", "[shell]") {
  auto r = run({"sh", "-c", "kill -KILL $$"});
  CHECK(r.exit_code == -1);
  CHECK(r.term_signal == SIGKILL);
  CHECK_FALSE(r.timed_out);
}

TEST_CASE("run_command captures stdout and stderr separately", "[shell]") {
  auto r = run({"sh", "-c", "echo out; echo err >&2; printf 'two words'"});
  CHECK(r.out == "out\ntwo words");
  CHECK(r.err == "err\n");
  CHECK_FALSE(r.out_truncated);
  CHECK_FALSE(r.err_truncated);
}

TEST_CASE("run_command passes arguments verbatim, without a shell", "[shell]") {
  auto r = run({"printf", "%s|", "a b", "$HOME", "*", "'q'"});
  CHECK(r.out == "a b|$HOME|*|'q'|");
}

TEST_CASE("run_command writes stdin", "[shell]") {
  rb::Command c;
  c.argv = {"cat"};
  SECTION("small") {
    c.stdin_data = "hello\nworld\n";
    CHECK(rb::run_command(c).out == "hello\nworld\n");
  }
  SECTION("larger than a pipe buffer, while output is read") {
    c.stdin_data = std::string(300000, 'x') + "end";
    auto r = rb::run_command(c);
    CHECK(r.out.size() == c.stdin_data.size());
    CHECK(r.out == c.stdin_data);
  }
  SECTION("no stdin means end of file at once") {
    auto r = rb::run_command(c);
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
  }
}

TEST_CASE("run_command survives a child that does not read its stdin", "[shell]") {
  rb::Command c;
  c.argv = {"sh", "-c", "exec 0<&-; echo closed"};
  c.stdin_data = std::string(2 << 20, 'x');
  auto r = rb::run_command(c);  // would die of SIGPIPE if it were not handled
  CHECK(r.exit_code == 0);
  CHECK(r.out == "closed\n");
}

TEST_CASE("run_command adds environment variables to the inherited ones", "[shell]") {
  ::setenv("RB_TEST_INHERITED", "inherited", 1);
  rb::Command c;
  c.argv = {"sh", "-c", "printf '%s,%s' \"$RB_TEST_VAR\" \"$RB_TEST_INHERITED\""};
  c.env = {{"RB_TEST_VAR", "hello world"}};
  CHECK(rb::run_command(c).out == "hello world,inherited");
  c.env = {{"RB_TEST_INHERITED", "replaced"}};
  CHECK(rb::run_command(c).out == ",replaced");
  ::unsetenv("RB_TEST_INHERITED");
}

TEST_CASE("run_command runs in the given directory", "[shell]") {
  char tmpl[] = "/tmp/runbook-shell-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  char real[PATH_MAX];
  REQUIRE(::realpath(tmpl, real) != nullptr);
  rb::Command c;
  c.argv = {"pwd", "-P"};
  c.cwd = tmpl;
  CHECK(rb::run_command(c).out == std::string(real) + "\n");
  ::rmdir(tmpl);

  c.cwd = std::string(tmpl) + "/gone";
  try {
    rb::run_command(c);
    FAIL("no error for a missing directory");
  } catch (const rb::StepError& e) {
    CHECK_THAT(e.what(), Catch::Contains("cannot change directory to '" + c.cwd + "'") &&
                             Catch::Contains("No such file or directory"));
  }
}

TEST_CASE("run_command bounds the capture but keeps reading", "[shell]") {
  rb::Command c;
  c.argv = {"sh", "-c", "head -c 3000000 /dev/zero; head -c 5000 /dev/zero >&2; echo tail >&2"};
  c.capture_limit = 1000;
  auto r = rb::run_command(c);
  CHECK(r.exit_code == 0);  // the child was never blocked on a full pipe
  CHECK(r.out.size() == 1000);
  CHECK(r.out_truncated);
  CHECK(r.err.size() == 1000);
  CHECK(r.err_truncated);
  CHECK_FALSE(r.timed_out);
}

TEST_CASE("run_command timeout ends the whole process group", "[shell]") {
  auto start = std::chrono::steady_clock::now();
  auto r = run({"sh", "-c", "sleep 30 & echo $!; sleep 30"}, 0.5);
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.timed_out);
  CHECK(r.term_signal == SIGTERM);
  CHECK(r.exit_code == -1);
  CHECK(elapsed < std::chrono::seconds(3));
  CHECK(r.duration_ms >= 450);
  // The background grandchild was in the group and is gone too.
  pid_t grandchild = std::atoi(r.out.c_str());
  REQUIRE(grandchild > 0);
  CHECK(becomes_dead(grandchild, std::chrono::milliseconds(1000)));
}

TEST_CASE("run_command sends SIGKILL after the grace period", "[shell]") {
  auto start = std::chrono::steady_clock::now();
  // An ignored SIGTERM is inherited by the sleep, so only SIGKILL ends them.
  auto r = run({"sh", "-c", "trap '' TERM; sleep 30 & echo $!; sleep 30"}, 0.3);
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.timed_out);
  CHECK(r.term_signal == SIGKILL);
  CHECK(elapsed >= std::chrono::milliseconds(2200));
  CHECK(elapsed < std::chrono::seconds(5));
  pid_t grandchild = std::atoi(r.out.c_str());
  REQUIRE(grandchild > 0);
  CHECK(becomes_dead(grandchild, std::chrono::milliseconds(1000)));
}

TEST_CASE("run_command returns when the program exits even if a background job holds the pipes",
          "[shell]") {
  auto start = std::chrono::steady_clock::now();
  auto r = run({"sh", "-c", "sleep 20 & echo $!; echo done"});
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.exit_code == 0);
  CHECK_FALSE(r.timed_out);
  CHECK_THAT(r.out, Catch::EndsWith("done\n"));
  CHECK(elapsed < std::chrono::seconds(2));
  pid_t background = std::atoi(r.out.c_str());
  REQUIRE(background > 0);
  CHECK_FALSE(process_dead(background));  // not killed: the program did not time out
  ::kill(background, SIGKILL);            // the test's own cleanup
}

TEST_CASE("run_command reports a program that cannot be started", "[shell]") {
  try {
    run({"no-such-program-for-runbook"});
    FAIL("no error for a missing program");
  } catch (const rb::StepError& e) {
    CHECK(std::string(e.what()) ==
          "cannot run 'no-such-program-for-runbook': No such file or directory");
  }
  std::string plain = "/tmp/runbook-shell-plain-" + std::to_string(::getpid());
  std::ofstream(plain) << "echo should not run\n";
  ::chmod(plain.c_str(), 0644);
  CHECK_THROWS_WITH(run({plain}), "cannot run '" + plain + "': Permission denied");
  CHECK_FALSE(rb::find_program(plain));  // not executable
  ::unlink(plain.c_str());
  CHECK_THROWS_AS(run({}), rb::ConfigError);
}

TEST_CASE("format_argv quotes what a shell would split", "[shell]") {
  CHECK(rb::format_argv({"pg_dump", "-d", "my db", "--file=/tmp/x.sql"}) ==
        "pg_dump -d 'my db' --file=/tmp/x.sql");
  CHECK(rb::format_argv({"echo", "it's", "", "$X"}) == "echo 'it'\\''s' '' '$X'");
}

TEST_CASE("find_program searches PATH", "[shell]") {
  auto sh = rb::find_program("sh");
  REQUIRE(sh);
  CHECK_THAT(*sh, Catch::EndsWith("/sh"));
  CHECK(rb::find_program("/bin/sh") == std::optional<std::string>("/bin/sh"));
  CHECK_FALSE(rb::find_program("no-such-program-for-runbook"));
}

TEST_CASE("run_command does not hang when the host ignores SIGCHLD", "[shell]") {
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGCHLD, &ignore, &old);
  auto start = std::chrono::steady_clock::now();
  auto r = run({"sh", "-c", "echo hi"}, 5);
  ::sigaction(SIGCHLD, &old, nullptr);
  CHECK(r.out == "hi\n");
  CHECK_FALSE(r.timed_out);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE("run_command runs the program in its own process group", "[shell][cancel]") {
  auto r = run({"sh", "-c", "cut -d' ' -f5 /proc/$$/stat; echo $$"});
  REQUIRE(r.exit_code == 0);
  auto newline = r.out.find('\n');
  REQUIRE(newline != std::string::npos);
  pid_t pgid = std::atoi(r.out.c_str());
  pid_t pid = std::atoi(r.out.c_str() + newline + 1);
  CHECK(pid > 0);
  CHECK(pgid == pid);  // its own group, so a terminal's ^C reaches only the runner
  CHECK(pgid != ::getpgrp());
}

TEST_CASE("a cancel request stops the command: SIGTERM to its process group", "[shell][cancel]") {
  CancelReset reset;
  auto start = std::chrono::steady_clock::now();
  rb::CommandResult r;
  {
    RequestLater later({std::chrono::milliseconds(300)});
    r = run({"sh", "-c", "sleep 30 & echo $!; echo $$; exec sleep 30"});
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.cancelled);
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.killed);
  CHECK(r.term_signal == SIGTERM);
  CHECK(r.exit_code == -1);
  CHECK(elapsed < std::chrono::seconds(3));
  pid_t background = std::atoi(r.out.c_str());
  pid_t leader = std::atoi(r.out.c_str() + r.out.find('\n') + 1);
  REQUIRE(background > 0);
  REQUIRE(leader > 0);
  CHECK(becomes_dead(background, std::chrono::milliseconds(1000)));  // the group went, not just the leader
  CHECK(process_dead(leader));
}

TEST_CASE("after a cancelled command its process group is gone", "[shell][cancel]") {
  CancelReset reset;
  rb::CommandResult r;
  {
    RequestLater later({std::chrono::milliseconds(300)});
    r = run({"sh", "-c", "echo $$; exec sleep 30"});
  }
  CHECK(r.cancelled);
  pid_t pgid = std::atoi(r.out.c_str());
  REQUIRE(pgid > 0);
  CHECK(group_gone(pgid));
}

TEST_CASE("a cancelled command that ignores SIGTERM is killed after the 2 s grace", "[shell][cancel]") {
  CancelReset reset;
  auto start = std::chrono::steady_clock::now();
  rb::CommandResult r;
  {
    RequestLater later({std::chrono::milliseconds(200)});
    // The ignored SIGTERM is inherited by the sleeps: only SIGKILL ends them.
    r = run({"sh", "-c", "trap '' TERM; sleep 30 & echo $!; echo $$; sleep 30"});
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.cancelled);
  CHECK(r.killed);
  CHECK(r.term_signal == SIGKILL);
  CHECK(elapsed >= std::chrono::milliseconds(2150));
  CHECK(elapsed < std::chrono::seconds(5));
  pid_t background = std::atoi(r.out.c_str());
  pid_t leader = std::atoi(r.out.c_str() + r.out.find('\n') + 1);
  REQUIRE(background > 0);
  REQUIRE(leader > 0);
  CHECK(becomes_dead(background, std::chrono::milliseconds(1000)));
  CHECK(process_dead(leader));
}

TEST_CASE("a second cancel request kills the command at once", "[shell][cancel]") {
  CancelReset reset;
  auto start = std::chrono::steady_clock::now();
  rb::CommandResult r;
  {
    RequestLater later({std::chrono::milliseconds(200), std::chrono::milliseconds(500)});
    r = run({"sh", "-c", "trap '' TERM; sleep 30 & echo $!; sleep 30"});
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(rb::cancel::count() == 2);
  CHECK(r.cancelled);
  CHECK(r.killed);
  CHECK(r.term_signal == SIGKILL);
  CHECK(elapsed >= std::chrono::milliseconds(450));
  CHECK(elapsed < std::chrono::milliseconds(1500));  // well before the 2 s grace would end
  pid_t background = std::atoi(r.out.c_str());
  REQUIRE(background > 0);
  CHECK(becomes_dead(background, std::chrono::milliseconds(1000)));
}

TEST_CASE("a cancel request also stops a command that closed its output", "[shell][cancel]") {
  CancelReset reset;
  auto start = std::chrono::steady_clock::now();
  rb::CommandResult r;
  {
    RequestLater later({std::chrono::milliseconds(300)});
    r = run({"sh", "-c", "exec >&- 2>&- 0<&-; exec sleep 30"});
  }
  CHECK(r.cancelled);
  CHECK(r.term_signal == SIGTERM);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("no command starts once cancellation was requested", "[shell][cancel]") {
  CancelReset reset;
  std::string marker = "/tmp/runbook-shell-cancelled-" + std::to_string(::getpid());
  ::unlink(marker.c_str());
  rb::cancel::request(SIGTERM);
  try {
    run({"touch", marker});
    FAIL("a command started after cancellation was requested");
  } catch (const rb::AbortError& e) {
    CHECK(std::string(e.what()) == "'touch' was not started: the run was interrupted by SIGTERM");
  }
  CHECK(::access(marker.c_str(), F_OK) != 0);
}

TEST_CASE("a command that ends before any cancel request is not marked cancelled", "[shell][cancel]") {
  CancelReset reset;
  auto r = run({"sh", "-c", "exit 0"});
  CHECK_FALSE(r.cancelled);
  CHECK_FALSE(r.killed);
}

TEST_CASE("run_command withholds inherited variables that hold a database credential", "[shell][secrets]") {
  ::setenv("RB_TEST_URL", "postgresql://app:Cred3ntial9@db/app", 1);
  ::setenv("RB_TEST_PGPASSWORD", "Cred3ntial9", 1);
  ::setenv("RB_TEST_OTHER", "harmless", 1);
  rb::Command c;
  c.argv = {"sh", "-c", "env"};
  c.withheld_values = {"Cred3ntial9"};
  c.env = {{"RB_TEST_GIVEN", "Cred3ntial9"}};  // what a command is handed on purpose still arrives
  auto r = rb::run_command(c);
  ::unsetenv("RB_TEST_URL");
  ::unsetenv("RB_TEST_PGPASSWORD");
  ::unsetenv("RB_TEST_OTHER");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("RB_TEST_URL=") == std::string::npos);
  CHECK(r.out.find("RB_TEST_PGPASSWORD=") == std::string::npos);
  CHECK(r.out.find("RB_TEST_OTHER=harmless") != std::string::npos);
  CHECK(r.out.find("RB_TEST_GIVEN=Cred3ntial9") != std::string::npos);
}
