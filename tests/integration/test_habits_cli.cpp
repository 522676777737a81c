// Habits of a tool that lives in a repository checkout (issue 11, part 6): the `.runbook`
// directory runbook creates for run records and backups is git-ignored from its creation.
#include <catch2/catch.hpp>

#include <string>

#include "cli_support.hpp"

using rbtest::TempDatabase;
using rbtest::TempDir;

using rbtest::sh;

TEST_CASE("the .runbook directory a run creates (records, backups) is ignored by git", "[cli][habits]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  sh("git -C '" + dir.path() + "' init -q");
  // The defaults: records in ./.runbook/runs, the backup in ./.runbook/backups.
  auto r = rbtest::run_cli({"apply.lua", "--yes"}, {{"DATABASE_URL", db.url()}}, dir.path());
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK_FALSE(rbtest::files_in(dir.path() + "/.runbook/runs", ".json").empty());
  CHECK_FALSE(rbtest::files_in(dir.path() + "/.runbook/backups", ".dump").empty());
  CHECK(rbtest::read_file(dir.path() + "/.runbook/.gitignore").find("\n*\n") != std::string::npos);
  const auto status = sh("git -C '" + dir.path() + "' status --porcelain --untracked-files=all");
  INFO(status);
  CHECK(status.find("migrations/") != std::string::npos);
  CHECK(status.find(".runbook") == std::string::npos);
  // An existing .gitignore of the team's own is left as it is.
  dir.write(".runbook/.gitignore", "runs/\n");
  REQUIRE(rbtest::run_cli({"apply.lua", "--yes"}, {{"DATABASE_URL", db.url()}}, dir.path()).code == 0);
  CHECK(rbtest::read_file(dir.path() + "/.runbook/.gitignore") == "runs/\n");
}

TEST_CASE("bash completion completes runbook names, options and --set parameters from runbook itself", "[cli][habits]") {
  TempDir dir;
  const std::string script = std::string(RUNBOOK_SOURCE_DIR) + "/completions/runbook.bash";
  // COMPREPLY, one per line, for the words typed so far (the last one being completed).
  auto complete = [&](const std::string& words) {
    return sh("cd '" + dir.path() + "' && bash -c 'source \"" + script + "\"; COMP_WORDS=(\"" + rbtest::runbook_binary() +
              "\" " + words + "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _runbook; printf \"%s\\n\" \"${COMPREPLY[@]}\"'");
  };
  const auto names = complete("st");
  INFO(names);
  CHECK(names.find("status.lua\n") != std::string::npos);
  CHECK(names.find("staging-rebuild.lua\n") != std::string::npos);
  CHECK(names.find("apply") == std::string::npos);
  const auto params = complete("apply-prod.lua --set mig");
  INFO(params);
  CHECK(params == "migrations=\n");
  const auto options = complete("--dry");
  CHECK(options == "--dry-run\n");
  const auto color = complete("--color n");
  CHECK(color == "never\n");
}
