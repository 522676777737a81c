// Colour by meaning (issue 11, part 2): PASS green, WARN yellow, FAIL red, warnings and errors
// in theirs, step headers bold, every other line plain; --color=auto|always|never; NO_COLOR as
// no-color.org says (set and non-empty). A terminal is provided by script(1) from util-linux.
#include <catch2/catch.hpp>

#include <string>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
const std::string kEsc = "\033[";
bool has(const std::string& text, const std::string& s) { return text.find(s) != std::string::npos; }

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// post-verify.lua run under script(1), so that stderr is a terminal: what the terminal showed.
// `env`: env(1)'s options and assignments (TERM too), e.g. "-u NO_COLOR TERM=xterm".
std::string on_terminal(const TempDir& dir, const TempDatabase& db, const std::string& env, const std::string& extra) {
  const std::string cmd = "cd " + quoted(dir.path()) + " && env " + env + " DATABASE_URL=" + quoted(db.url()) +
                          " " + quoted(rbtest::runbook_binary()) + " post-verify.lua --journal " +
                          quoted(dir.path() + "/journal") + " " + extra;
  return rbtest::sh("script -qec " + quoted(cmd) + " /dev/null < /dev/null");
}
}  // namespace

TEST_CASE("colours mark meaning only: PASS, WARN, FAIL, warnings, errors, step headers", "[cli][color]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);

  auto passing = rbtest::run_runbook(dir, db, "post-verify.lua", {"--color=always"});
  INFO(passing.all());
  CHECK(passing.code == 0);
  CHECK(has(passing.all(), "\033[32mPASS\033[0m"));
  CHECK(has(passing.all(), "\033[1m==> [1/5] connect\033[0m"));
  // An ordinary line is not coloured (spdlog used to paint every info line green).
  CHECK(has(passing.all(), "\nconnected: "));
  CHECK_FALSE(has(passing.all(), "\033[32mconnected"));

  TempDatabase empty;
  auto failing = rbtest::run_runbook(dir, empty, "post-verify.lua", {"--color=always"});
  INFO(failing.all());
  CHECK(failing.code == 4);
  CHECK(has(failing.all(), "\033[31mFAIL\033[0m"));
  CHECK(has(failing.all(), "\033[31merror: step verdict: "));
  CHECK(has(failing.all(), "\033[33mwarning: "));

  // Piped (not a terminal), auto: no control codes at all.
  auto piped = rbtest::run_runbook(dir, db, "post-verify.lua");
  CHECK(piped.code == 0);
  CHECK_FALSE(has(piped.all(), kEsc));
  // A bad --color value is a usage error naming it.
  auto bad = rbtest::run_runbook(dir, db, "post-verify.lua", {"--color=sometimes"});
  CHECK(bad.code == 2);
  CHECK(has(bad.all(), "sometimes"));
}

TEST_CASE("on a terminal, auto colours unless NO_COLOR is set and non-empty; --color=never never", "[cli][color]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  REQUIRE(rbtest::run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);

  const auto plain_env = on_terminal(dir, db, "-u NO_COLOR TERM=xterm", "");
  INFO(plain_env);
  CHECK(has(plain_env, "PASS"));
  CHECK(has(plain_env, "\033[32mPASS"));
  const auto empty_no_color = on_terminal(dir, db, "TERM=xterm NO_COLOR=", "");
  CHECK(has(empty_no_color, "\033[32mPASS"));  // empty: not set, as the convention says
  const auto no_color = on_terminal(dir, db, "TERM=xterm NO_COLOR=1", "");
  CHECK(has(no_color, "PASS"));
  CHECK_FALSE(has(no_color, kEsc));
  const auto never = on_terminal(dir, db, "-u NO_COLOR TERM=xterm", "--color=never");
  CHECK(has(never, "PASS"));
  CHECK_FALSE(has(never, kEsc));
  const auto dumb = on_terminal(dir, db, "-u NO_COLOR TERM=dumb", "");
  CHECK_FALSE(has(dumb, kEsc));
  // --color=always wins over NO_COLOR: the operator asked.
  CHECK(has(on_terminal(dir, db, "TERM=xterm NO_COLOR=1", "--color=always"), "\033[32mPASS"));
}
