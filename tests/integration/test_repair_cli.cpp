// Repairs through the real CLI against a real PostgreSQL: a failed CREATE INDEX CONCURRENTLY
// leaves a dirty ledger entry and an invalid index; post-verify and apply say so; the operator
// repairs by hand, resolve.lua records it, and apply completes.
#include <catch2/catch.hpp>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::run_cli;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
using rbtest::run_runbook;

bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

const char* kIndexValid =
    "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'accounts_email_key'";
const char* kIndexExists = "SELECT count(*) FROM pg_class WHERE relname = 'accounts_email_key'";
const char* kDirty =
    "SELECT count(*) FROM schema_migrations WHERE filename = '0002_accounts_email_key.up.sql' AND status = 'dirty'";

void write_chain(const TempDir& dir) {
  dir.write("migrations/0001_accounts.up.sql",
            "CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL);\n"
            "INSERT INTO accounts VALUES (1, 'a@example.com'), (2, 'b@example.com'), (3, 'a@example.com');\n");
  dir.write("migrations/0002_accounts_email_key.up.sql",
            "-- one statement, which cannot run inside a transaction\n"
            "CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON accounts (email);\n");
  dir.write("migrations/0003_accounts_created_at.up.sql",
            "ALTER TABLE accounts ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();\n");
}
}  // namespace

TEST_CASE("a failed CREATE INDEX CONCURRENTLY is dirty until repaired and resolved", "[repair]") {
  TempDir dir;
  TempDatabase db;
  write_chain(dir);

  auto failed = run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(failed.all());
  CHECK(failed.code == 1);
  CHECK(has(failed, "0002_accounts_email_key.up.sql"));
  CHECK(has(failed, "CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key"));
  CHECK(has(failed, "dirty"));
  CHECK(db.count(kDirty) == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0001_accounts.up.sql' AND status = 'applied'") == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0003_accounts_created_at.up.sql'") == 0);
  REQUIRE(db.count(kIndexExists) == 1);
  CHECK(db.count(kIndexValid) == 0);  // indisvalid = false

  auto verify = run_runbook(dir, db, "post-verify.lua");
  INFO(verify.all());
  CHECK(verify.code == 4);
  CHECK(has(verify, "invalid indexes"));
  CHECK(has(verify, "public.accounts_email_key"));
  CHECK(has(verify, "0002_accounts_email_key.up.sql is dirty"));

  auto again = run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(again.all());
  CHECK(again.code == 4);
  CHECK(has(again, "dirty"));
  CHECK(has(again, "resolve"));
  CHECK(db.count(kDirty) == 1);
  CHECK(db.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'created_at'") == 0);

  // resolve without a decision is a usage error, and changes nothing.
  auto no_as = run_runbook(dir, db, "resolve.lua", {"--yes", "--set", "migration=0002"});
  INFO(no_as.all());
  CHECK(no_as.code == 2);
  CHECK(has(no_as, "as"));
  CHECK(db.count(kDirty) == 1);

  // The repair by hand: drop the invalid index, remove the duplicates.
  rbtest::psql(db, "DROP INDEX CONCURRENTLY accounts_email_key");
  rbtest::psql(db, "DELETE FROM accounts WHERE id = 3");
  auto resolved = run_runbook(dir, db, "resolve.lua", {"--yes", "--set", "migration=0002", "--set", "as=rolled-back"});
  INFO(resolved.all());
  CHECK(resolved.code == 0);
  CHECK(has(resolved, "dirty: 0002_accounts_email_key.up.sql"));  // shown before the decision
  CHECK(has(resolved, "marked 0002_accounts_email_key.up.sql as rolled back"));
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0002_accounts_email_key.up.sql'") == 0);

  auto done = run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(done.all());
  CHECK(done.code == 0);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE status = 'applied'") == 3);
  CHECK(db.count(kIndexValid) == 1);
  CHECK(run_runbook(dir, db, "post-verify.lua").code == 0);
}

TEST_CASE("resolve.lua as=applied after the operator finished the index by hand", "[repair]") {
  TempDir dir;
  TempDatabase db;
  write_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes"}).code == 1);
  REQUIRE(db.count(kDirty) == 1);
  rbtest::psql(db, "DELETE FROM accounts WHERE id = 3");
  rbtest::psql(db, "REINDEX INDEX accounts_email_key");
  REQUIRE(db.count(kIndexValid) == 1);

  const auto ledger_before = rbtest::psql(db, "SELECT l::text FROM schema_migrations l ORDER BY filename");
  auto dry = run_runbook(dir, db, "resolve.lua", {"--dry-run", "--set", "migration=0002_accounts_email_key.up.sql", "--set", "as=applied"});
  INFO(dry.all());
  CHECK(dry.code == 0);
  CHECK(has(dry, "would mark 0002_accounts_email_key.up.sql as applied"));
  CHECK(rbtest::psql(db, "SELECT l::text FROM schema_migrations l ORDER BY filename") == ledger_before);

  auto r = run_runbook(dir, db, "resolve.lua", {"--yes", "--set", "migration=0002_accounts_email_key.up.sql", "--set", "as=applied"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0002_accounts_email_key.up.sql'"
                 " AND status = 'applied' AND error IS NULL") == 1);
  auto done = run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(done.all());
  CHECK(done.code == 0);
  CHECK(has(done, "applied 1 migration(s)"));  // only 0003: 0002 is not run again
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE status = 'applied'") == 3);
}

TEST_CASE("resolve.lua names an unknown migration and changes nothing", "[repair]") {
  TempDir dir;
  TempDatabase db;
  write_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes"}).code == 1);
  const auto ledger_before = rbtest::psql(db, "SELECT l::text FROM schema_migrations l ORDER BY filename");
  auto r = run_runbook(dir, db, "resolve.lua", {"--yes", "--set", "migration=0042", "--set", "as=applied"});
  INFO(r.all());
  CHECK(r.code == 2);
  CHECK(has(r, "0042"));
  CHECK(rbtest::psql(db, "SELECT l::text FROM schema_migrations l ORDER BY filename") == ledger_before);
}
