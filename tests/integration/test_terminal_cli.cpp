// Live progress on a real terminal (issue 11, part 2), driven through tmux: a 500-migration
// apply shows the progress line with the migration that runs (its start), heartbeats during a
// 10-second migration, and a lock wait naming the blocking pid; the same run piped has no control
// codes. The tmux server runs on a socket of its own and is ended by this test.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli_support.hpp"
#include "engine/shell.hpp"

using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {

class Tmux {
 public:
  // `config`: a file of tmux settings (a history long enough for the whole run).
  Tmux(const std::string& config, const std::string& command) : socket_("rbtest-" + std::to_string(getpid())) {
    run({"-f", config, "new-session", "-d", "-s", "run", "-x", "200", "-y", "50", command});
  }
  ~Tmux() { run({"kill-server"}); }
  // The pane's whole history, wrapped lines joined.
  std::string screen() const { return run({"capture-pane", "-p", "-J", "-S", "-", "-t", "run"}); }

 private:
  std::string run(const std::vector<std::string>& args) const {
    rb::Command c;
    c.argv = {"tmux", "-L", socket_};
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.timeout_s = 30;
    return rb::run_command(c).out;
  }
  std::string socket_;
};

std::string name_of(int i, const char* what) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d_%s.sql", i, what);
  return buf;
}

// Waits until `pred(screen)` holds; the last screen seen.
template <class Pred>
std::string wait_for(const Tmux& tmux, Pred pred, int seconds) {
  std::string screen;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    screen = tmux.screen();
    if (pred(screen)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return screen;
}

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// The line of `screen` that holds `what`, or "".
std::string line_with(const std::string& screen, const std::string& what) {
  const auto at = screen.find(what);
  if (at == std::string::npos) return "";
  const auto from = screen.rfind('\n', at);
  const auto to = screen.find('\n', at);
  return screen.substr(from == std::string::npos ? 0 : from + 1, to == std::string::npos ? std::string::npos : to - from - 1);
}

}  // namespace

TEST_CASE("on a terminal: a progress line, heartbeats of a long migration and of a lock wait", "[cli][terminal]") {
  TempDir dir;
  TempDatabase db;
  rbtest::psql(db, "CREATE TABLE busy (id int)");
  for (int i = 1; i <= 500; ++i) {
    if (i == 250) dir.write("migrations/" + name_of(i, "slow"), "SELECT pg_sleep(10);\n");
    else if (i == 400) dir.write("migrations/" + name_of(i, "alter_busy"), "ALTER TABLE busy ADD COLUMN note text;\n");
    else dir.write("migrations/" + name_of(i, "table"), "CREATE TABLE t" + std::to_string(i) + " (id int);\n");
  }
  // Another session holds `busy` (ACCESS SHARE, as a long report does) until the test has seen
  // the lock wait on the screen, then is cancelled.
  rbtest::AccessShareHolder holder(db, "busy", 120);
  const std::string holder_pid = holder.pid();

  dir.write("run.sh", "#!/bin/sh\ncd '" + dir.path() + "'\nexport DATABASE_URL='" + db.url() +
                          "' TERM=xterm-256color NO_COLOR=1\n'" + rbtest::runbook_binary() +
                          "' apply.lua --yes --set lock_timeout=60s --journal '" + dir.path() + "/journal'\necho \"exit=$?\" > '" +
                          dir.path() + "/exit'\nsleep 600\n");
  dir.write("tmux.conf", "set -g history-limit 100000\n");
  Tmux tmux(dir.path() + "/tmux.conf", "sh '" + dir.path() + "/run.sh'");

  // The 10-second migration: its progress line (the start of it) and its heartbeats.
  auto screen = wait_for(tmux, [](const std::string& s) { return has(s, "still running 0250_slow.sql: 8 s"); }, 90);
  INFO(screen);
  CHECK(has(screen, "still running 0250_slow.sql: 3 s; waiting for Timeout: PgSleep"));
  CHECK(has(screen, "still running 0250_slow.sql: 8 s; waiting for Timeout: PgSleep"));
  const std::string progress = line_with(screen, "[250/500]");
  CHECK(has(progress, "0250_slow.sql"));
  CHECK(has(progress, "%"));
  CHECK(has(progress, "ETA "));
  CHECK(has(screen, "[249/500] 0249_table.sql applied"));

  // The lock wait names the blocking session; then it is released and the chain finishes.
  screen = wait_for(tmux, [](const std::string& s) { return has(s, "still running 0400_alter_busy.sql: 3 s"); }, 90);
  CHECK(has(screen, "still running 0400_alter_busy.sql: 3 s; waiting for Lock: relation; blocked by pid " + holder_pid));
  holder.release();
  holder.wait();
  screen = wait_for(tmux, [&](const std::string&) { return std::filesystem::exists(dir.path() + "/exit"); }, 90);
  CHECK(rbtest::read_file(dir.path() + "/exit") == "exit=0\n");
  screen = tmux.screen();
  CHECK(has(screen, "[500/500] 0500_table.sql applied"));
  CHECK_FALSE(has(line_with(screen, "0500_table.sql applied"), "ETA"));  // the progress line is gone at the end
  CHECK(rbtest::psql(db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'busy' AND column_name = 'note'") == "1\n");
}

TEST_CASE("piped, the same progress is plain lines: no carriage return, no control code", "[cli][terminal]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/001_slow.sql", "SELECT pg_sleep(4);\n");
  dir.write("migrations/002_quick.sql", "CREATE TABLE quick (id int);\n");
  const auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}, {{"TERM", "xterm-256color"}});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r.all(), "still running 001_slow.sql: 3 s"));
  CHECK(has(r.all(), "[2/2] 002_quick.sql applied"));
  CHECK(r.all().find('\033') == std::string::npos);
  CHECK(r.all().find('\r') == std::string::npos);
}
