// Rehearsed before production (issue 10, part 5): an environment with require_rehearsal makes
// apply-prod refuse files that the named environment never rehearsed or applied with the same
// SHA-256 (exit 3, naming them), unless --override-rehearsal REASON (recorded); min_soak asks
// that the staging apply is that old. The window estimate of the latest rehearsal is shown in the
// confirmation prompt.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "cli_support.hpp"

namespace {

void write_chain(rbtest::TempDir& dir) {
  dir.write("migrations/001_users.sql", "CREATE TABLE users (id serial PRIMARY KEY, age integer);\n");
  dir.write("migrations/002_age_bigint.sql", "ALTER TABLE users ALTER COLUMN age TYPE bigint;\n");
}

void write_environments(rbtest::TempDir& dir, const std::string& soak) {
  dir.write("environments.lua",
            "return {\n"
            "  staging = { database_env = 'DATABASE_URL_STAGING', confirm = 'STAGING-OK', backup = 'skip' },\n"
            "  prod = { database_env = 'DATABASE_URL', confirm = 'PROD-OK', backup = 'required',\n"
            "           require_rehearsal = 'staging'" + (soak.empty() ? "" : ", min_soak = '" + soak + "'") + " },\n"
            "}\n");
}

std::string latest_record_with(const rbtest::TempDir& dir, const std::string& needle) {
  std::string found;
  for (const auto& f : rbtest::files_in(dir.path() + "/journal", ".json")) {
    const auto text = rbtest::read_file(f);
    if (text.find(needle) != std::string::npos) found = text;
  }
  return found;
}

}  // namespace

TEST_CASE("require_rehearsal: every state of the staging receipts x min_soak decides whether apply-prod proceeds",
          "[cli][receipts]") {
  enum class Staging { nothing, rehearsed, applied, edited_after_rehearsal };
  for (const auto staging : {Staging::nothing, Staging::rehearsed, Staging::applied, Staging::edited_after_rehearsal}) {
    for (const std::string soak : {"", "24h"}) {
      rbtest::TempDir dir;
      rbtest::TempDatabase prod("rb_prod"), stage("rb_stage");
      write_chain(dir);
      write_environments(dir, soak);
      const std::map<std::string, std::string> env{{"DATABASE_URL_STAGING", stage.url()}};
      if (staging == Staging::rehearsed || staging == Staging::edited_after_rehearsal) {
        auto r = rbtest::run_runbook(dir, prod, "apply-staging.lua", {"--env", "staging", "--rehearse", "--confirm", "STAGING-OK"}, env);
        INFO(r.all());
        REQUIRE(r.code == 0);
      }
      if (staging == Staging::applied) {
        auto r = rbtest::run_runbook(dir, prod, "apply-staging.lua", {"--env", "staging", "--confirm", "STAGING-OK"}, env);
        INFO(r.all());
        REQUIRE(r.code == 0);
        REQUIRE(stage.count("SELECT count(*) FROM schema_migrations") == 2);
      }
      if (staging == Staging::edited_after_rehearsal)
        dir.write("migrations/002_age_bigint.sql", "ALTER TABLE users ALTER COLUMN age TYPE numeric;\n");

      auto r = rbtest::run_runbook(dir, prod, "apply-prod.lua", {"--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, env);
      INFO("staging state " << static_cast<int>(staging) << ", min_soak '" << soak << "'\n" << r.all());
      // A rehearsal is a receipt without soak; an apply just now is a receipt, too young for 24h.
      const bool proceeds = (staging == Staging::rehearsed && soak.empty()) || (staging == Staging::applied && soak.empty());
      if (proceeds) {
        CHECK(r.code == 0);
        CHECK(prod.count("SELECT count(*) FROM schema_migrations") == 2);
        CHECK(r.err.find("rehearsed on staging: every planned file") != std::string::npos);
      } else {
        CHECK(r.code == 3);
        CHECK(prod.count("SELECT to_regclass('public.users') IS NULL") == 1);
        CHECK(r.err.find("environment prod requires the planned files rehearsed on staging first") != std::string::npos);
        CHECK(r.err.find("--override-rehearsal") != std::string::npos);
        if (staging == Staging::nothing) {
          CHECK(r.err.find("001_users.sql (sha256 ") != std::string::npos);
          CHECK(r.err.find("002_age_bigint.sql (sha256 ") != std::string::npos);
        }
        if (staging == Staging::edited_after_rehearsal) {
          // The unchanged file has its receipt; only the edited one is named.
          CHECK(r.err.find("002_age_bigint.sql (sha256 ") != std::string::npos);
          if (soak.empty()) CHECK(r.err.find("001_users.sql (sha256 ") == std::string::npos);
        }
        if (staging == Staging::applied) CHECK(r.err.find("min_soak is 24h") != std::string::npos);
        if (staging == Staging::rehearsed) CHECK(r.err.find("never applied there (min_soak 24h needs an apply)") != std::string::npos);
      }
    }
  }
}

TEST_CASE("after a staging rehearsal, apply-prod's prompt shows the estimated window", "[cli][receipts]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase prod("rb_prod");
  write_chain(dir);
  write_environments(dir, "");
  const std::map<std::string, std::string> env{{"DATABASE_URL_STAGING", prod.url()}};
  REQUIRE(rbtest::run_runbook(dir, prod, "apply-staging.lua", {"--env", "staging", "--rehearse", "--confirm", "STAGING-OK"}, env).code == 0);
  auto r = rbtest::run_runbook(dir, prod, "apply-prod.lua", {"--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, env);
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(r.err.find("Apply 2 migration(s) to ") != std::string::npos);
  CHECK(r.err.find("? Estimated window: ~") != std::string::npos);
  CHECK(r.err.find("002_age_bigint.sql") != std::string::npos);
  CHECK(r.err.find("rewrites public.users") != std::string::npos);
  CHECK(latest_record_with(dir, "\"estimates\"").find("\"total_s\"") != std::string::npos);
}

TEST_CASE("--override-rehearsal applies files never rehearsed and records the reason", "[cli][receipts]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase prod("rb_prod");
  write_chain(dir);
  write_environments(dir, "24h");
  const std::map<std::string, std::string> env{{"DATABASE_URL_STAGING", prod.url()}};
  auto r = rbtest::run_runbook(dir, prod, "apply-prod.lua",
                               {"--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--override-rehearsal", "hotfix INC-42, rehearsed by hand"}, env);
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(prod.count("SELECT count(*) FROM schema_migrations") == 2);
  CHECK(r.err.find("proceeding: --override-rehearsal \"hotfix INC-42, rehearsed by hand\"") != std::string::npos);
  const auto record = latest_record_with(dir, "rehearsal_override");
  CHECK(record.find("hotfix INC-42, rehearsed by hand") != std::string::npos);
  CHECK(record.find("001_users.sql") != std::string::npos);
}
