// Every shipped runbook through the real CLI, live and --dry-run, against a real PostgreSQL:
// exit codes, messages, the database, the ledger, backups and migration files after.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::run_cli;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
const char* kLedgerCount = "SELECT count(*) FROM schema_migrations";

using rbtest::run_runbook;

bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

long long chain_size(const std::string& chain) {
  return static_cast<long long>(rbtest::files_in(chain, ".up.sql").size());
}

// Every column of every ledger row ("" when there is no ledger yet).
std::string ledger_rows(const TempDatabase& db) {
  if (db.count("SELECT to_regclass('public.schema_migrations') IS NULL") == 1) return "";
  return rbtest::psql(db, "SELECT l::text FROM schema_migrations l ORDER BY filename");
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

// What a dry-run must leave exactly as it was.
struct Snapshot {
  std::string schema, ledger, backups, migrations;
};

Snapshot snapshot(const TempDir& dir, const TempDatabase& db) {
  return {db.schema_dump(), ledger_rows(db), joined(rbtest::listing(dir.path() + "/.runbook/backups")),
          joined(rbtest::listing(dir.path() + "/migrations"))};
}

void check_unchanged(const Snapshot& before, const Snapshot& after) {
  CHECK(after.schema == before.schema);
  CHECK(after.ledger == before.ledger);
  CHECK(after.backups == before.backups);
  CHECK(after.migrations == before.migrations);
}

// The run record (journal JSON) of the run whose --json output is `r`.
nlohmann::json record_of(const TempDir& dir, const CliResult& r) {
  const auto id = rbtest::record_of(r.out)["run_id"].get<std::string>();
  return nlohmann::json::parse(rbtest::read_file(dir.path() + "/journal/" + id + ".json"));
}

// Databases a restore or a rebuild keeps or leaves next to the test database.
void drop_leftovers(const TempDatabase& db) {
  rb::db::ConnectOptions o;
  o.conninfo = "dbname=postgres";
  o.application_name = "rbtest";
  rb::db::Connection admin(o);
  auto r = admin.query("SELECT datname FROM pg_database WHERE left(datname, length($1) + 1) = $1 || '_'", {db.name()});
  for (const auto& row : r.rows) admin.run_script("DROP DATABASE IF EXISTS " + admin.quote_name(row[0].text) + " WITH (FORCE)");
}

// Drops those leftovers when the test ends, also when an assertion stopped it early.
struct LeftoverGuard {
  const TempDatabase& db;
  ~LeftoverGuard() {
    try {
      drop_leftovers(db);
    } catch (...) {
    }
  }
};

// A file of the sample chain run by hand, outside runbook (as a DBA would with psql).
void run_by_hand(const TempDatabase& db, const std::string& file) {
  auto c = db.connect();
  c.run_script(rbtest::read_file(file));
}

std::string environments(const TempDir& dir, const std::string& lua) { return dir.write("environments.lua", lua); }
}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. Every shipped runbook, --dry-run then live.
// ---------------------------------------------------------------------------------------------

TEST_CASE("apply.lua: --dry-run changes nothing and prints the plan; live applies and backs up", "[runbooks][dry-run]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0005", "--set", "backup_dir=first"}).code == 0);
  const auto before = snapshot(dir, db);

  auto dry = run_runbook(dir, db, "apply.lua", {"--dry-run"});
  INFO(dry.all());
  CHECK(dry.code == 0);
  check_unchanged(before, snapshot(dir, db));
  CHECK(has(dry, "would run: pg_dump"));
  CHECK(has(dry, "would ask: Apply 8 migration(s)"));
  CHECK(has(dry, "0006_create_backfill_jobs.up.sql would apply"));
  CHECK(has(dry, "nothing was changed"));

  auto live = run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(live.all());
  CHECK(live.code == 0);
  CHECK(db.count(kLedgerCount) == chain_size(chain));
  CHECK(rbtest::files_in(dir.path() + "/.runbook/backups", ".dump").size() == 1);
}

TEST_CASE("apply-prod.lua: --dry-run shows the token it would ask for; live needs it", "[runbooks][dry-run]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  const auto before = snapshot(dir, db);
  auto dry = run_runbook(dir, db, "apply-prod.lua", {"--dry-run"});
  INFO(dry.all());
  CHECK(dry.code == 0);
  check_unchanged(before, snapshot(dir, db));
  CHECK(has(dry, "would ask"));
  CHECK(has(dry, "PROD-OK"));
  CHECK(has(dry, "would run: pg_dump"));

  auto live = run_runbook(dir, db, "apply-prod.lua", {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()});
  INFO(live.all());
  CHECK(live.code == 0);
  CHECK(db.count(kLedgerCount) == chain_size(chain));
  CHECK(rbtest::files_in(dir.path() + "/.runbook/backups", ".dump").size() == 1);  // backup = "required"
}

TEST_CASE("apply-staging.lua: --dry-run changes nothing; live applies with STAGING-OK", "[runbooks][dry-run]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0003", "--set", "backup_dir=first"}).code == 0);
  const auto before = snapshot(dir, db);
  auto dry = run_runbook(dir, db, "apply-staging.lua", {"--dry-run"});
  INFO(dry.all());
  CHECK(dry.code == 0);
  check_unchanged(before, snapshot(dir, db));
  CHECK(has(dry, "would ask"));
  CHECK(has(dry, "STAGING-OK"));
  CHECK(has(dry, "would run: pg_dump"));

  auto live = run_runbook(dir, db, "apply-staging.lua", {"--confirm", "STAGING-OK"});
  INFO(live.all());
  CHECK(live.code == 0);
  CHECK(db.count(kLedgerCount) == chain_size(chain));
}

TEST_CASE("rollback.lua: --dry-run (down scripts and restore) changes nothing; live rolls back", "[runbooks][dry-run]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);  // leaves a backup in the run record
  const auto before = snapshot(dir, db);

  auto dry = run_runbook(dir, db, "rollback.lua", {"--dry-run", "--set", "count=2"});
  INFO(dry.all());
  CHECK(dry.code == 0);
  check_unchanged(before, snapshot(dir, db));
  CHECK(has(dry, "would ask: Roll back 2 migration(s)"));
  CHECK(has(dry, "0013_validate_hero_snapshots_checks.down.sql"));
  CHECK(has(dry, "nothing was rolled back"));

  auto dry_restore = run_runbook(dir, db, "rollback.lua", {"--dry-run", "--set", "method=restore"});
  INFO(dry_restore.all());
  CHECK(dry_restore.code == 0);
  check_unchanged(before, snapshot(dir, db));
  CHECK(has(dry_restore, "would ask: Restore"));
  CHECK(has(dry_restore, "would restore"));
  CHECK(db.count("SELECT count(*) FROM pg_database WHERE datname LIKE '" + db.name() + "\\_%'") == 0);

  auto live = run_runbook(dir, db, "rollback.lua", {"--yes", "--set", "count=2"});
  INFO(live.all());
  CHECK(live.code == 0);
  CHECK(db.count(kLedgerCount) == chain_size(chain) - 2);
}

TEST_CASE("forward-fix.lua: --dry-run writes no file and applies nothing; live does both", "[runbooks][dry-run]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
  const auto before = snapshot(dir, db);

  auto dry = run_runbook(dir, db, "forward-fix.lua", {"--dry-run", "--set", "migration=0006"});
  INFO(dry.all());
  CHECK(dry.code == 0);
  check_unchanged(before, snapshot(dir, db));
  CHECK(has(dry, "would write"));
  CHECK(has(dry, "0014_revert_create_backfill_jobs.up.sql"));
  CHECK(has(dry, "would ask"));

  auto live = run_runbook(dir, db, "forward-fix.lua", {"--yes", "--set", "migration=0006"});
  INFO(live.all());
  CHECK(live.code == 0);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0014_revert_create_backfill_jobs.up.sql'") == 1);
}

TEST_CASE("post-verify.lua: --dry-run and live both verify a healthy database without changing it", "[runbooks][dry-run]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
  environments(dir, R"(return { prod = { database_env = "DATABASE_URL",
    expected_tables = { "public.hero_snapshots", "public.backfill_jobs" },
    expected_indexes = { "hero_snapshots_pending_idx", { table = "etl_errors", like = "%created_at%" } },
    smoke_sql = { "SELECT count(*) = 6 FROM etl_error_types",
      { name = "error types seeded", sql = "SELECT count(*) FROM etl_error_types", expect = "= 6" } } } })");
  const auto before = snapshot(dir, db);
  for (const char* mode : {"--dry-run", "--no-color"}) {
    auto r = run_runbook(dir, db, "post-verify.lua", {mode, "--env", "prod"});
    INFO(mode << "\n" << r.all());
    CHECK(r.code == 0);
    check_unchanged(before, snapshot(dir, db));
    CHECK(has(r, "expected tables"));
    CHECK(has(r, "expected indexes"));
    CHECK(has(r, "smoke: SELECT count(*) = 6 FROM etl_error_types"));
    CHECK(has(r, "got 6, expected = 6"));
    CHECK(has(r, "all 11 checks passed"));
  }
}

TEST_CASE("resolve.lua: --dry-run says what it would mark; live records a manual repair", "[runbooks][dry-run]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0005"}).code == 0);
  run_by_hand(db, chain + "/0006_create_backfill_jobs.up.sql");  // a DBA ran it with psql
  const auto before = snapshot(dir, db);

  auto dry = run_runbook(dir, db, "resolve.lua", {"--dry-run", "--set", "migration=0006", "--set", "as=applied"});
  INFO(dry.all());
  CHECK(dry.code == 0);
  check_unchanged(before, snapshot(dir, db));
  CHECK(has(dry, "would mark 0006_create_backfill_jobs.up.sql as applied"));
  CHECK(has(dry, "would ask"));

  auto live = run_runbook(dir, db, "resolve.lua", {"--yes", "--set", "migration=0006", "--set", "as=applied"});
  INFO(live.all());
  CHECK(live.code == 0);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0006_create_backfill_jobs.up.sql'") == 1);
  auto rest = run_runbook(dir, db, "apply.lua", {"--yes"});  // 0006 is not run again (it would fail: table exists)
  INFO(rest.all());
  CHECK(rest.code == 0);
  CHECK(db.count(kLedgerCount) == chain_size(chain));
}

// ---------------------------------------------------------------------------------------------
// 11. baseline
// ---------------------------------------------------------------------------------------------

TEST_CASE("baseline.lua adopts a database that already has the first five migrations", "[runbooks][dry-run]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  for (const char* f : {"0001_create_pgcrypto", "0002_create_hero_snapshots", "0003_create_etl_error_types",
                        "0004_create_etl_errors", "0005_create_user_summary_tables"})
    run_by_hand(db, chain + "/" + f + ".up.sql");
  rbtest::psql(db, "INSERT INTO etl_error_types VALUES ('adopted', 'row written before the baseline', false)");
  const auto before = snapshot(dir, db);

  auto dry = run_runbook(dir, db, "baseline.lua", {"--dry-run", "--set", "version=0005"});
  INFO(dry.all());
  CHECK(dry.code == 0);
  check_unchanged(before, snapshot(dir, db));
  CHECK(has(dry, "would baseline 5 migration(s) up to 0005"));
  CHECK(has(dry, "would ask"));

  auto live = run_runbook(dir, db, "baseline.lua", {"--yes", "--set", "version=0005"});
  INFO(live.all());
  CHECK(live.code == 0);
  CHECK(has(live, "baselined 5 migration(s) up to 0005"));
  CHECK(db.count(kLedgerCount) == 5);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename < '0006' AND sha256 ~ '^[0-9a-f]{64}$'") == 5);
  CHECK(db.count("SELECT count(*) FROM etl_error_types WHERE code = 'adopted'") == 1);  // nothing re-ran
  CHECK(db.schema_dump().find("hero_snapshots") != std::string::npos);

  auto rest = run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(rest.all());
  CHECK(rest.code == 0);
  CHECK(has(rest, "applied 8 migration(s)"));
  CHECK(db.count(kLedgerCount) == chain_size(chain));
  CHECK(db.count("SELECT count(*) FROM etl_error_types WHERE code = 'adopted'") == 1);
}

// ---------------------------------------------------------------------------------------------
// 2. Backups are real and restorable; rollback with down scripts.
// ---------------------------------------------------------------------------------------------

TEST_CASE("apply's backup is recorded with its checksum and rollback method=restore brings back schema and data",
          "[runbooks][backup]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  // The first apply's backup goes elsewhere and is deleted: only the second apply's is restorable.
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0006", "--set", "backup_dir=first"}).code == 0);
  std::filesystem::remove_all(dir.path() + "/first");
  rbtest::psql(db,
               "INSERT INTO hero_snapshots (id, user_id, raw) VALUES"
               " ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000aa', '{\"hero\": 1}'),"
               " ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000bb', '{\"hero\": 2}');"
               "INSERT INTO backfill_jobs (name, status) VALUES ('resume-me', 'failed')");
  const std::string data_sql =
      "SELECT (SELECT string_agg(h::text, ';' ORDER BY id) FROM hero_snapshots h) || '|' ||"
      " (SELECT string_agg(b.name || ':' || b.status, ';') FROM backfill_jobs b) || '|' ||"
      " (SELECT string_agg(code, ';' ORDER BY code) FROM etl_error_types) || '|' ||"
      " (SELECT string_agg(l::text, ';' ORDER BY filename) FROM schema_migrations l)";
  const auto schema_before = db.schema_dump();
  const auto data_before = rbtest::psql(db, data_sql);

  auto applied = run_runbook(dir, db, "apply.lua", {"--yes", "--json"});
  INFO(applied.all());
  REQUIRE(applied.code == 0);
  REQUIRE(db.schema_dump() != schema_before);
  auto rec = record_of(dir, applied);
  REQUIRE(rec["backups"].size() == 1);
  const auto& b = rec["backups"][0];
  const auto path = b["path"].get<std::string>();
  const auto file = path.front() == '/' ? path : dir.path() + "/" + path;
  REQUIRE(std::filesystem::exists(file));
  CHECK(b["size"].get<long long>() == static_cast<long long>(std::filesystem::file_size(file)));
  CHECK(b["sha256"].get<std::string>() == rbtest::sha256sum(file));
  CHECK(b["database"] == db.name());
  CHECK(b["format"] == "custom");
  CHECK(b["toc_entries"].get<long long>() > 10);
  // Production data: readable by its owner only.
  namespace fs = std::filesystem;
  CHECK((fs::status(file).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);

  // Written after the apply: a restore replaces it.
  rbtest::psql(db, "INSERT INTO backfill_jobs (name) VALUES ('after-the-backup')");
  auto restored = run_runbook(dir, db, "rollback.lua", {"--yes", "--set", "method=restore"});
  INFO(restored.all());
  CHECK(restored.code == 0);
  CHECK(has(restored, b["sha256"].get<std::string>()));
  CHECK(db.schema_dump() == schema_before);
  CHECK(rbtest::psql(db, data_sql) == data_before);
  // The database it replaced is kept under another name, not lost.
  CHECK(db.count("SELECT count(*) FROM pg_database WHERE datname LIKE '" + db.name() + "\\_before\\_restore\\_%'") == 1);
}

TEST_CASE("rollback.lua method=restore picks the newest apply's backup even when two runs share a second",
          "[runbooks][backup]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  auto older = run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0003", "--json"});
  REQUIRE(older.code == 0);
  auto newer = run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0006", "--json"});
  REQUIRE(newer.code == 0);
  const auto older_id = rbtest::record_of(older.out)["run_id"].get<std::string>();
  const auto newer_id = rbtest::record_of(newer.out)["run_id"].get<std::string>();
  const auto newer_backup = record_of(dir, newer)["backups"][0]["path"].get<std::string>();
  // Run ids are <second>-<random hex>: two runs started in the same second sort by the random
  // part. Give the older run's record the name it would have had if it started in the newer
  // run's second with a larger random part (its content, started_at included, is unchanged).
  const auto journal = dir.path() + "/journal/";
  const auto same_second = newer_id.substr(0, newer_id.find('-')) + "-ffffff";
  REQUIRE(newer_id < same_second);
  std::filesystem::rename(journal + older_id + ".json", journal + same_second + ".json");

  auto r = run_runbook(dir, db, "rollback.lua", {"--dry-run", "--set", "method=restore"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "plan: restore " + newer_backup));  // not the older run's backup of an older state
}

TEST_CASE("the backup location in the run record works from another working directory", "[runbooks][backup]") {
  TempDir dir, elsewhere;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  auto applied = run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0004", "--json"});
  REQUIRE(applied.code == 0);
  const auto path = record_of(dir, applied)["backups"][0]["path"].get<std::string>();
  CHECK(path.front() == '/');  // a run record is archived and read elsewhere: the location must be absolute
  // The same journal, read by an operator whose shell is in another directory.
  auto r = run_cli({"rollback.lua", "--dry-run", "--set", "method=restore", "--set",
                    "migrations=" + dir.path() + "/migrations", "--journal", dir.path() + "/journal"},
                   {{"DATABASE_URL", db.url()}}, elsewhere.path());
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "plan: restore"));
}

TEST_CASE("rollback.lua count=1 does not fall back to a backup that undoes more than asked", "[runbooks][rollback]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  // One apply run took 0001..0006; its backup is of the empty database.
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0006"}).code == 0);
  rbtest::psql(db, "INSERT INTO etl_error_types VALUES ('kept', 'written after the apply', false)");
  std::filesystem::remove(chain + "/0006_create_backfill_jobs.down.sql");
  auto r = run_runbook(dir, db, "rollback.lua", {"--yes", "--set", "count=1"});
  INFO(r.all());
  // Asked to roll back one migration, the only restore point would also undo 0001..0005 and the
  // data written since: refuse (or roll back exactly 0006), never silently undo six.
  CHECK(db.count("SELECT to_regclass('public.etl_error_types') IS NOT NULL") == 1);
  CHECK(db.count("SELECT to_regclass('public.schema_migrations') IS NOT NULL") == 1);
  if (db.count("SELECT to_regclass('public.schema_migrations') IS NOT NULL") == 1)
    CHECK(db.count(kLedgerCount) >= 5);
}

TEST_CASE("rollback.lua with down scripts leaves parity PASS and the rolled-back migrations pending",
          "[runbooks][rollback]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0006"}).code == 0);
  auto r = run_runbook(dir, db, "rollback.lua",
                       {"--yes", "--set", "count=2", "--set", "method=down", "--json", "--ack",
                        "drop-table@0006_create_backfill_jobs.down.sql", "--ack",
                        "drop-table@0005_create_user_summary_tables.down.sql"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(has(r, "after rollback: 4 applied, 9 pending, parity PASS"));
  CHECK(db.count(kLedgerCount) == 4);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename >= '0005'") == 0);
  CHECK(db.count("SELECT to_regclass('public.backfill_jobs') IS NULL AND to_regclass('public.user_troops') IS NULL") == 1);
  CHECK(db.count("SELECT to_regclass('public.etl_errors') IS NOT NULL") == 1);
  auto rec = record_of(dir, r);
  bool consistent = false;
  for (const auto& c : rec["checks"])
    if (c["name"] == "ledger consistent") consistent = c["result"] == "PASS";
  CHECK(consistent);
  // The two are pending again: apply brings exactly them back.
  auto again = run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0006"});
  INFO(again.all());
  CHECK(again.code == 0);
  CHECK(has(again, "applied 2 migration(s)"));
}

TEST_CASE("rollback.lua method=down refuses when a needed down script is missing; changing nothing",
          "[runbooks][rollback]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0006"}).code == 0);
  std::filesystem::remove(chain + "/0005_create_user_summary_tables.down.sql");
  const auto before = snapshot(dir, db);
  auto r = run_runbook(dir, db, "rollback.lua", {"--yes", "--set", "count=2", "--set", "method=down"});
  INFO(r.all());
  CHECK(r.code != 0);
  CHECK(r.code != 3);
  CHECK(has(r, "0005_create_user_summary_tables"));
  CHECK(has(r, "down"));
  check_unchanged(before, snapshot(dir, db));
  CHECK(db.count("SELECT to_regclass('public.backfill_jobs') IS NOT NULL") == 1);  // 0006's down did not run either
}

// ---------------------------------------------------------------------------------------------
// 4. staging-rebuild
// ---------------------------------------------------------------------------------------------

TEST_CASE("staging-rebuild.lua refuses without --env and for a non-disposable environment", "[runbooks][staging]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0003"}).code == 0);
  rbtest::psql(db, "CREATE TABLE precious (id int); INSERT INTO precious VALUES (1)");
  environments(dir, R"(return {
    prod = { database_env = "STAGING_URL", disposable = false },
    shared = { database_env = "STAGING_URL" },
  })");
  const auto before = snapshot(dir, db);
  const std::map<std::string, std::string> env{{"STAGING_URL", db.url()}};

  auto no_env = run_runbook(dir, db, "staging-rebuild.lua", {"--yes"}, env);
  INFO(no_env.all());
  CHECK(no_env.code == 2);
  CHECK(has(no_env, "--env"));
  CHECK(has(no_env, "disposable"));
  for (const char* name : {"prod", "shared"}) {
    auto r = run_runbook(dir, db, "staging-rebuild.lua", {"--yes", "--env", name}, env);
    INFO(r.all());
    CHECK(r.code == 2);
    CHECK(has(r, std::string("environment ") + name + " is not marked disposable"));
  }
  check_unchanged(before, snapshot(dir, db));
  CHECK(db.count("SELECT count(*) FROM precious") == 1);
}

TEST_CASE("staging-rebuild.lua rebuilds a drifted staging database to parity PASS after a snapshot",
          "[runbooks][staging]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
  // Drift as seed 000 describes it: an edited hash, a row for a file nobody has, a stray table.
  rbtest::psql(db,
               "UPDATE schema_migrations SET sha256 = repeat('0', 64) WHERE filename = '0002_create_hero_snapshots.up.sql';"
               "INSERT INTO schema_migrations (filename, version, sha256) VALUES ('0099_hotfix.up.sql', '0099', repeat('1', 64));"
               "CREATE TABLE stray_hotfix (id int)");
  environments(dir, R"(return { staging = { database_env = "STAGING_URL", disposable = true } })");
  const std::map<std::string, std::string> env{{"STAGING_URL", db.url()}};

  // Dry-run first: nothing happens, the plan is printed.
  const auto before = snapshot(dir, db);
  auto dry = run_runbook(dir, db, "staging-rebuild.lua", {"--dry-run", "--env", "staging"}, env);
  INFO(dry.all());
  CHECK(dry.code == 0);
  check_unchanged(before, snapshot(dir, db));
  CHECK(has(dry, "would run: pg_dump"));
  CHECK(has(dry, "would ask"));
  CHECK(has(dry, "would create database"));

  auto r = run_runbook(dir, db, "staging-rebuild.lua", {"--yes", "--env", "staging", "--json"}, env);
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(db.count("SELECT to_regclass('public.stray_hotfix') IS NULL") == 1);
  CHECK(db.count(kLedgerCount) == chain_size(chain));
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0099_hotfix.up.sql'") == 0);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE sha256 = repeat('0', 64)") == 0);
  auto rec = record_of(dir, r);
  REQUIRE(rec["backups"].size() == 1);
  const auto snap = rec["backups"][0]["path"].get<std::string>();
  CHECK(snap.find("pre-rebuild") != std::string::npos);
  CHECK(std::filesystem::exists(snap.front() == '/' ? snap : dir.path() + "/" + snap));
  bool parity_pass = false;
  for (const auto& c : rec["checks"])
    if (c["name"] == "ledger parity") parity_pass = c["result"] == "PASS";
  CHECK(parity_pass);
  // The rebuilt database passes post-verify too.
  environments(dir, R"(return { staging = { database_env = "STAGING_URL", disposable = true } })");
  auto verify = run_runbook(dir, db, "post-verify.lua", {"--env", "staging"}, env);
  INFO(verify.all());
  CHECK(verify.code == 0);
}

// ---------------------------------------------------------------------------------------------
// 6. Environments file errors
// ---------------------------------------------------------------------------------------------

TEST_CASE("a misspelt key in the environments file is a configuration error naming key and file",
          "[runbooks][environments]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  const auto file = dir.write("envs/custom-environments.lua",
                              "return { staging = { database_env = \"STAGING_URL\", disposible = true } }\n");
  const auto before = snapshot(dir, db);
  for (const char* runbook : {"apply.lua", "staging-rebuild.lua", "post-verify.lua"}) {
    auto r = run_runbook(dir, db, runbook, {"--yes", "--env", "staging", "--environments", file}, {{"STAGING_URL", db.url()}});
    INFO(runbook << "\n" << r.all());
    CHECK(r.code == 2);
    CHECK(has(r, "disposible"));
    CHECK(has(r, "custom-environments.lua"));
    CHECK(has(r, "staging"));
  }
  check_unchanged(before, snapshot(dir, db));
  CHECK(db.count("SELECT to_regclass('public.schema_migrations') IS NULL") == 1);
}

TEST_CASE("an unset database variable is a configuration error naming the variable", "[runbooks][environments]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  // ./environments.lua in the working directory is the default file.
  environments(dir, "return { prod = { database_env = \"RBTEST_UNSET_PROD_URL\", confirm = \"PROD-OK\" } }\n");
  const auto before = snapshot(dir, db);
  auto r = run_runbook(dir, db, "apply-prod.lua", {"--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()});
  INFO(r.all());
  CHECK(r.code == 2);
  CHECK(has(r, "RBTEST_UNSET_PROD_URL"));
  CHECK(has(r, "environments.lua"));
  check_unchanged(before, snapshot(dir, db));
  CHECK(db.count("SELECT to_regclass('public.schema_migrations') IS NULL") == 1);
  // An environment that is not in the file at all names the ones that are.
  auto unknown = run_runbook(dir, db, "apply.lua", {"--yes", "--env", "prdo"});
  INFO(unknown.all());
  CHECK(unknown.code == 2);
  CHECK(has(unknown, "prdo"));
  CHECK(has(unknown, "prod"));
}

// ---------------------------------------------------------------------------------------------
// 7. Hooks
// ---------------------------------------------------------------------------------------------

namespace {
// An environments file whose four maintenance hooks append their name and whether the sample
// chain's hero_snapshots table exists at that moment (so the order around the apply shows).
std::string hooks_environment(const TempDir& dir, const TempDatabase& db, const std::string& evidence) {
  auto hook = [&](const std::string& name) {
    return "{ \"sh\", \"-c\", [[echo " + name + " $(psql -X -At -d " + db.name() +
           " -c \"SELECT to_regclass('public.hero_snapshots') IS NOT NULL\") >> " + evidence + "]] }";
  };
  return environments(dir, "return { prod = { database_env = \"PROD_URL\", hooks = {\n"
                           "  pause_workers = " + hook("pause_workers") + ",\n"
                           "  maintenance_on = " + hook("maintenance_on") + ",\n"
                           "  maintenance_off = " + hook("maintenance_off") + ",\n"
                           "  resume_workers = " + hook("resume_workers") + ",\n"
                           "} } }\n");
}
}  // namespace

TEST_CASE("apply-prod.lua runs the maintenance hooks in order around the apply", "[runbooks][hooks]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  const auto evidence = dir.path() + "/hooks.log";
  hooks_environment(dir, db, evidence);
  const std::map<std::string, std::string> env{{"PROD_URL", db.url()}};

  auto dry = run_runbook(dir, db, "apply-prod.lua", {"--dry-run", "--env", "prod"}, env);
  INFO(dry.all());
  CHECK(dry.code == 0);
  CHECK_FALSE(std::filesystem::exists(evidence));
  CHECK(has(dry, "would run: sh -c"));
  CHECK(has(dry, "echo pause_workers"));
  CHECK(has(dry, "echo maintenance_on"));
  CHECK(db.count("SELECT to_regclass('public.schema_migrations') IS NULL") == 1);

  auto live = run_runbook(dir, db, "apply-prod.lua", {"--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, env);
  INFO(live.all());
  CHECK(live.code == 0);
  CHECK(db.count(kLedgerCount) == chain_size(chain));
  CHECK(rbtest::read_file(evidence) == "pause_workers f\nmaintenance_on f\nmaintenance_off t\nresume_workers t\n");
}

// issue 9: placeholders pasted into a `sh -c` script would run a database named `$(...)`.
TEST_CASE("hook placeholders: {run_id} substituted; a hostile value in a sh -c hook reaches no shell",
          "[runbooks][hooks][files]") {
  TempDir dir;
  TempDatabase db;
  const std::string pwned = dir.path() + "/pwned";
  // A database whose name is a command substitution.
  const std::string hostile = "x$(touch " + pwned + ")";
  db.connect().run_script("CREATE DATABASE " + db.connect().quote_name(hostile));
  struct DropHostile {
    const TempDatabase& db;
    std::string name;
    ~DropHostile() {
      try { db.connect().run_script("DROP DATABASE IF EXISTS " + db.connect().quote_name(name) + " WITH (FORCE)"); } catch (...) {}
    }
  } drop{db, hostile};
  dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
  const auto evidence = dir.path() + "/uploads.log";
  environments(dir, "return { prod = { database_env = \"PROD_URL\", hooks = {\n"
                    "  upload_backup = { \"sh\", \"-c\", [[echo \"{database} {run_id}\" >> " + evidence + "]] },\n"
                    "} } }\n");
  // The hostile name, percent-encoded into the URL: postgresql:///x%24%28touch%20...%29?host=...
  std::string encoded;
  for (char c : hostile) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') encoded += c;
    else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      encoded += buf;
    }
  }
  std::string url = db.url();
  url.replace(url.find(db.name()), db.name().size(), encoded);
  auto r = run_runbook(dir, db, "apply-prod.lua", {"--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, {{"PROD_URL", url}});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK_FALSE(std::filesystem::exists(pwned));
  const std::string log = rbtest::read_file(evidence);
  CHECK(log.find(hostile + " ") == 0);  // the name arrived as data, whole
  CHECK(log.find("{run_id}") == std::string::npos);
  CHECK(log.find("Z-") != std::string::npos);  // the run id: 20261202T101010Z-abcdef
}

TEST_CASE("apply-prod.lua resumes workers and leaves maintenance when the apply fails", "[runbooks][hooks]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  dir.write("migrations/0002_create_hero_snapshots.up.sql",
            "CREATE TABLE hero_snapshots (id int);\nINSERT INTO no_such_table VALUES (1);\n");
  const auto evidence = dir.path() + "/hooks.log";
  hooks_environment(dir, db, evidence);
  auto r = run_runbook(dir, db, "apply-prod.lua", {"--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, {{"PROD_URL", db.url()}});
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(has(r, "no_such_table"));
  CHECK(db.count(kLedgerCount) == 1);  // 0001 stays applied, 0002 rolled back
  CHECK(rbtest::read_file(evidence) == "pause_workers f\nmaintenance_on f\nmaintenance_off f\nresume_workers f\n");
}

// ---------------------------------------------------------------------------------------------
// 8. apply-staging's token
// ---------------------------------------------------------------------------------------------

TEST_CASE("apply-staging.lua needs STAGING-OK; and an environment's token overrides it", "[runbooks][confirm]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  const auto before = db.schema_dump();
  for (const char* token : {"PROD-OK", "staging-ok", "yes"}) {
    auto r = run_runbook(dir, db, "apply-staging.lua", {"--confirm", token});
    INFO(token << "\n" << r.all());
    CHECK(r.code == 3);
    CHECK(has(r, "--confirm does not match"));
  }
  auto yes = run_runbook(dir, db, "apply-staging.lua", {"--yes"});
  CHECK(yes.code == 3);
  CHECK(db.schema_dump() == before);

  environments(dir, "return { staging = { database_env = \"STAGING_URL\", confirm = \"REBUILT-STAGING\" } }\n");
  const std::map<std::string, std::string> env{{"STAGING_URL", db.url()}};
  auto old_token = run_runbook(dir, db, "apply-staging.lua", {"--env", "staging", "--confirm", "STAGING-OK"}, env);
  INFO(old_token.all());
  CHECK(old_token.code == 3);
  CHECK(has(old_token, "--confirm does not match"));
  CHECK(db.schema_dump() == before);
  auto ok = run_runbook(dir, db, "apply-staging.lua", {"--env", "staging", "--confirm", "REBUILT-STAGING"}, env);
  INFO(ok.all());
  CHECK(ok.code == 0);
  CHECK(db.count(kLedgerCount) == chain_size(chain));
}

// ---------------------------------------------------------------------------------------------
// 9. forward-fix
// ---------------------------------------------------------------------------------------------

TEST_CASE("forward-fix.lua writes the next migration from the down script and applies it", "[runbooks][forward-fix]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
  auto r = run_runbook(dir, db, "forward-fix.lua", {"--yes", "--set", "migration=0006_create_backfill_jobs.up.sql"});
  INFO(r.all());
  CHECK(r.code == 0);
  const auto up = chain + "/0014_revert_create_backfill_jobs.up.sql";
  const auto down = chain + "/0014_revert_create_backfill_jobs.down.sql";
  REQUIRE(std::filesystem::exists(up));
  CHECK(std::filesystem::exists(down));
  CHECK(rbtest::read_file(up).find("DROP TABLE IF EXISTS backfill_jobs;") != std::string::npos);
  CHECK(rbtest::read_file(up).find("reverts 0006_create_backfill_jobs.up.sql") != std::string::npos);
  CHECK(rbtest::read_file(down).find("CREATE TABLE backfill_jobs") != std::string::npos);
  CHECK(rbtest::psql(db, "SELECT sha256 FROM schema_migrations WHERE filename = '0014_revert_create_backfill_jobs.up.sql'") ==
        rbtest::sha256sum(up) + "\n");
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0006_create_backfill_jobs.up.sql'") == 1);
  CHECK(db.count("SELECT to_regclass('public.backfill_jobs') IS NULL") == 1);
  CHECK(has(r, "ledger parity"));
}

TEST_CASE("forward-fix.lua without a down script writes a template and applies nothing", "[runbooks][forward-fix]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes"}).code == 0);
  std::filesystem::remove(chain + "/0006_create_backfill_jobs.down.sql");
  const auto ledger_before = ledger_rows(db);
  const auto schema_before = db.schema_dump();
  auto r = run_runbook(dir, db, "forward-fix.lua", {"--yes", "--set", "migration=0006"});
  INFO(r.all());
  CHECK(r.code == 3);
  CHECK(has(r, "template"));
  const auto tmpl = chain + "/0014_revert_create_backfill_jobs.up.sql";
  REQUIRE(std::filesystem::exists(tmpl));
  CHECK(rbtest::read_file(tmpl).find("TODO") != std::string::npos);
  CHECK(ledger_rows(db) == ledger_before);
  CHECK(db.schema_dump() == schema_before);
}

TEST_CASE("forward-fix.lua applies only the fix; not unrelated pending migrations", "[runbooks][forward-fix]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0006"}).code == 0);
  auto r = run_runbook(dir, db, "forward-fix.lua", {"--yes", "--set", "migration=0006"});
  INFO(r.all());
  // 0007..0013 were never reviewed or confirmed by this run: they must stay pending (or the
  // runbook must refuse while they are pending), never be applied under "Apply the forward fix?".
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename BETWEEN '0007' AND '0014'") == 0);
}

// Every layout: a two-migration chain whose second adds a column; forward-fix reverts it with a
// new migration that the same layout loads as its newest, and the column is gone.
TEST_CASE("forward-fix.lua writes the fix as each layout's tool would, and it applies", "[runbooks][forward-fix][layout]") {
  struct Layout {
    const char* name;
    std::vector<std::pair<std::string, std::string>> files;
    const char* second;  // the migration to revert
  };
  const std::string t = "CREATE TABLE t (id int);\n", add = "ALTER TABLE t ADD COLUMN x int;\n",
                    drop = "ALTER TABLE t DROP COLUMN x;\n";
  const std::vector<Layout> layouts = {
      {"flat", {{"0001_t.sql", t}, {"0002_x.sql", add}}, "0002_x.sql"},
      {"golang-migrate", {{"1_t.up.sql", t}, {"2_x.up.sql", add}, {"2_x.down.sql", drop}}, "2_x.up.sql"},
      {"sqlx", {{"1_t.sql", "-- no-transaction\n" + t}, {"2_x.sql", add}}, "2_x.sql"},
      {"diesel", {{"2024-01-01-000000_t/up.sql", t}, {"2024-01-02-000000_x/up.sql", add},
                  {"2024-01-02-000000_x/down.sql", drop}}, "2024-01-02-000000_x"},
      {"prisma", {{"20240101000000_t/migration.sql", t}, {"20240102000000_x/migration.sql", add}}, "20240102000000_x"},
      {"dbmate", {{"20240101000000_t.sql", "-- migrate:up\n" + t}, {"20240102000000_x.sql", "-- migrate:up\n" + add +
                  "-- migrate:down\n" + drop}}, "20240102000000_x.sql"},
      {"flyway", {{"V1__t.sql", t}, {"V1_1__x.sql", add}, {"U1_1__x.sql", drop}}, "V1_1__x.sql"},
      {"goose", {{"00001_t.sql", "-- +goose Up\n" + t}, {"00002_x.sql", "-- +goose Up\n" + add + "-- +goose Down\n" + drop}},
       "00002_x.sql"},
      {"node-pg-migrate", {{"1700000000000_t.sql", "-- Up Migration\n" + t}, {"1700000000001_x.sql", "-- Up Migration\n" +
                           add + "-- Down Migration\n" + drop}}, "1700000000001_x.sql"},
      {"versioned-dirs", {{"1/1_t.up.sql", t}, {"1/2_x.up.sql", add}, {"1/2_x.down.sql", drop}}, "1/2_x.up.sql"},
  };
  for (const auto& l : layouts) {
    DYNAMIC_SECTION(l.name) {
      TempDir dir;
      TempDatabase db;
      for (const auto& [f, content] : l.files) dir.write("migrations/" + f, content);
      auto applied = run_runbook(dir, db, "apply.lua", {"--yes"});
      INFO(applied.all());
      REQUIRE(applied.code == 0);
      REQUIRE(has(applied, std::string(l.name) + " layout"));
      auto r = run_runbook(dir, db, "forward-fix.lua", {"--yes", "--set", std::string("migration=") + l.second});
      INFO(r.all());
      const bool has_down = std::string(l.name) != "flat" && std::string(l.name) != "sqlx" && std::string(l.name) != "prisma";
      if (!has_down) {
        CHECK(r.code == 3);  // a template to fill in, nothing applied
        CHECK(has(r, "template"));
        continue;
      }
      CHECK(r.code == 0);
      CHECK(db.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'x'") == 0);
      CHECK(db.count(kLedgerCount) == 3);
      // The fix is the newest migration of the same layout, and the chain is up to date.
      auto again = run_runbook(dir, db, "apply.lua", {"--yes"});
      INFO(again.all());
      CHECK(again.code == 0);
      CHECK(has(again, std::string(l.name) + " layout"));
      CHECK(has(again, "3 applied, 0 pending"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 10. Composition
// ---------------------------------------------------------------------------------------------

TEST_CASE("a new runbook composed from the library steps runs through the CLI", "[runbooks][compose]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  rbtest::copy_sample_chain(dir);
  REQUIRE(run_runbook(dir, db, "apply.lua", {"--yes", "--set", "target=0003", "--set", "backup_dir=first"}).code == 0);
  const std::string file = std::string(RUNBOOK_SOURCE_DIR) + "/tests/lua/compose_check.lua";

  auto describe = run_cli({"--describe", file}, {}, dir.path());
  INFO(describe.all());
  CHECK(describe.code == 0);
  CHECK(describe.out.find("min_rows") != std::string::npos);
  CHECK(describe.out.find("ledger_rows") != std::string::npos);

  auto ok = run_runbook(dir, db, file, {"--json"});
  INFO(ok.all());
  CHECK(ok.code == 0);
  CHECK(has(ok, "ledger rows"));
  CHECK(has(ok, "3 applied rows (need at least 1)"));
  CHECK(rbtest::files_in(dir.path() + "/.runbook/backups", ".dump").size() == 1);
  auto rec = record_of(dir, ok);
  CHECK(rec["runbook"] == "compose-check");
  CHECK(rec["backups"].size() == 1);
  bool recorded = false;
  for (const auto& c : rec["checks"])
    if (c["name"] == "ledger rows") recorded = c["result"] == "PASS";
  CHECK(recorded);

  auto fails = run_runbook(dir, db, file, {"--set", "min_rows=99"});
  INFO(fails.all());
  CHECK(fails.code == 4);
  CHECK(has(fails, "1 of 1 checks failed"));
  CHECK(has(fails, "3 applied rows (need at least 99)"));
}

TEST_CASE("apply.lua composed with insert_before and replace runs the new step in its place", "[runbooks][compose]") {
  TempDir dir;
  TempDatabase db;
  LeftoverGuard leftovers{db};
  const auto chain = rbtest::copy_sample_chain(dir);
  const std::string file = std::string(RUNBOOK_SOURCE_DIR) + "/tests/lua/compose_apply.lua";

  auto describe = run_cli({"--describe", file}, {}, dir.path());
  INFO(describe.all());
  REQUIRE(describe.code == 0);
  REQUIRE(describe.out.find("Steps:") != std::string::npos);
  const auto d = describe.out.substr(describe.out.find("Steps:"));
  const auto backup = d.find(" backup "), mark = d.find(" mark "), apply = d.find(" apply "),
             confirm = d.find(" confirm ");
  REQUIRE(backup != std::string::npos);
  REQUIRE(mark != std::string::npos);
  REQUIRE(apply != std::string::npos);
  CHECK(confirm < backup);
  CHECK(backup < mark);
  CHECK(mark < apply);
  CHECK(d.find("Custom backup: custom-<run>.dump") != std::string::npos);
  CHECK(d.find("pg_dump -Fc, verified") == std::string::npos);  // the replaced step is gone
  CHECK(d.find(" 9. mark") != std::string::npos);

  auto r = run_runbook(dir, db, file, {"--yes"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(db.count(kLedgerCount) == chain_size(chain));
  // The marker was written inside the run, before the apply created the chain's tables.
  CHECK(db.count("SELECT count(*) FROM compose_marker WHERE NOT hero_snapshots_existed") == 1);
  const auto dumps = rbtest::files_in(dir.path() + "/.runbook/backups", ".dump");
  REQUIRE(dumps.size() == 1);
  CHECK(std::filesystem::path(dumps[0]).filename().string().rfind("custom-", 0) == 0);
}

// issue 10: a pg_dump that wrote only part of the archive was reported "verified with
// pg_restore --list" (which reads only the table of contents at its start) and the migration
// ran. The archive is read back whole before anything is applied.
TEST_CASE("a pg_dump that truncates its archive makes apply-prod fail at the backup step, nothing applied",
          "[runbooks][backup][truncated]") {
  TempDir dir;
  TempDatabase db;
  rbtest::psql(db, "CREATE TABLE payload (id int, body text);"
                   "INSERT INTO payload SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 20000) g");
  dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
  // The real pg_dump, then the archive cut to 60 % of its size (the table of contents survives).
  const std::string fake = dir.write("fakebin/pg_dump",
                                     "#!/bin/sh\n"
                                     "set -e\n"
                                     "file=''\n"
                                     "for a in \"$@\"; do case \"$a\" in --file=*) file=\"${a#--file=}\";; esac; done\n"
                                     "PATH=\"$REAL_PATH\" pg_dump \"$@\"\n"
                                     "size=$(stat -c %s \"$file\")\n"
                                     "truncate -s $((size * 6 / 10)) \"$file\"\n");
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  const std::string path = std::getenv("PATH");
  auto r = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()},
                               {{"PATH", dir.path() + "/fakebin:" + path}, {"REAL_PATH", path}});
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(r.err.find("step backup") != std::string::npos);
  CHECK(r.err.find("is incomplete or corrupt: its table of contents lists, but reading it whole fails") !=
        std::string::npos);
  CHECK(r.err.find("Nothing was applied") != std::string::npos);
  CHECK(db.count("SELECT count(*) FROM pg_class WHERE relname = 'a'") == 0);
  CHECK((db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'") == 0 ||
         db.count("SELECT count(*) FROM schema_migrations") == 0));
  // The same run with the real pg_dump backs up, reads it back and applies.
  auto ok = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()});
  INFO(ok.all());
  CHECK(ok.code == 0);
  CHECK(ok.err.find("read back whole") != std::string::npos);
  CHECK(db.count("SELECT count(*) FROM pg_class WHERE relname = 'a'") == 1);
}
