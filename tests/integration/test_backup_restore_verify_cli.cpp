// backup_verify = "restore" (issue 10): the backup is restored into an ephemeral cluster and the
// row count of every table there compared with the source's, counted in the snapshot pg_dump
// took the archive in. A copy missing a table's rows, or an archive that does not restore, fails
// the backup step before anything is applied; the ephemeral cluster never outlives the run.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_support.hpp"

namespace {

bool has(const rbtest::CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

// A directory the `postgres` user can reach (the ephemeral cluster's parent, as TMPDIR).
std::string cluster_parent(rbtest::TempDir& dir) {
  chmod(dir.path().c_str(), 0711);
  const std::string p = dir.path() + "/tmp";
  std::filesystem::create_directories(p);
  chmod(p.c_str(), 01777);
  return p;
}

// Ephemeral cluster directories left under `parent`.
int clusters_left(const std::string& parent) {
  int n = 0;
  for (const auto& name : rbtest::listing(parent))
    if (name.rfind("runbook-ephemeral-", 0) == 0) ++n;
  return n;
}

void seed(const rbtest::TempDatabase& db) {
  rbtest::psql(db,
               "CREATE TABLE customers (id serial PRIMARY KEY, name text);"
               "INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 100) g;"
               "CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customers, body text);"
               "INSERT INTO orders (customer, body) SELECT 1 + g % 100, md5(g::text) FROM generate_series(1, 2500) g;"
               "CREATE TABLE notes (id int);"
               "CREATE SCHEMA \"Odd\"; CREATE TABLE \"Odd\".\"Mixed Case\" (v text);"
               "INSERT INTO \"Odd\".\"Mixed Case\" VALUES ('a'), ('b'), ('c');");
}

nlohmann::json record_of(const rbtest::TempDir& dir, const rbtest::CliResult& r) {
  const auto id = rbtest::record_of(r.out)["run_id"].get<std::string>();
  return nlohmann::json::parse(rbtest::read_file(dir.path() + "/journal/" + id + ".json"));
}

// The check named `name` in the record, or null.
nlohmann::json check_named(const nlohmann::json& rec, const std::string& name) {
  for (const auto& c : rec["checks"])
    if (c.value("name", "") == name) return c;
  return nullptr;
}

bool applied(const rbtest::TempDatabase& db) { return db.count("SELECT count(*) FROM pg_class WHERE relname = 'a'") == 1; }

long long ledger_rows(const rbtest::TempDatabase& db) {
  if (db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'") == 0) return 0;
  return db.count("SELECT count(*) FROM schema_migrations");
}

// fakebin/pg_dump: `body` runs, then (unless it exec'd) the real pg_dump with the same arguments.
std::string fake_pg_dump(rbtest::TempDir& dir, const std::string& body) {
  const std::string fake = dir.write("fakebin/pg_dump", "#!/bin/sh\nset -e\n" + body);
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                         std::filesystem::perms::others_exec);
  return dir.path() + "/fakebin";
}

}  // namespace

TEST_CASE("backup_verify = restore restores the backup into an ephemeral cluster, compares every table's rows "
          "with the dump's snapshot, records them, applies, and leaves no cluster behind",
          "[backup][restore-verify]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  seed(db);
  dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
  const std::string parent = cluster_parent(dir);
  // Set by the environment (the runbook's parameter of the same name takes it).
  dir.write("environments.lua", "return { prod = { database_env = \"RB_RESTORE_URL\", backup = \"required\", "
                                "backup_verify = \"restore\" } }\n");
  // A writer that commits rows while the dump runs (after the snapshot was exported): neither
  // the archive nor the counts see them, so the comparison holds.
  const std::string path = std::getenv("PATH");
  const std::string bin = fake_pg_dump(
      dir, "psql -X -q -d \"$RB_WRITER_URL\" -c \"INSERT INTO orders (customer, body) SELECT 1, 'late' FROM generate_series(1, 10)\"\n"
           "PATH=\"$REAL_PATH\" exec pg_dump \"$@\"\n");
  const std::map<std::string, std::string> env{{"TMPDIR", parent}, {"RB_RESTORE_URL", db.url()},
                                               {"RB_WRITER_URL", db.url()}, {"PATH", bin + ":" + path},
                                               {"REAL_PATH", path}};

  SECTION("dry-run says what it would do and starts no cluster") {
    auto dry = rbtest::run_runbook(dir, db, "apply-prod.lua",
                                   {"--dry-run", "--env", "prod", "--environments", dir.path() + "/environments.lua"}, env);
    INFO(dry.all());
    CHECK(dry.code == 0);
    CHECK(has(dry, "would run: pg_dump"));
    CHECK(has(dry, "restore it into an ephemeral PostgreSQL"));
    CHECK(has(dry, "(backup_verify = restore)"));
    CHECK(clusters_left(parent) == 0);
    CHECK(!applied(db));
  }

  SECTION("live") {
    auto r = rbtest::run_runbook(dir, db, "apply-prod.lua",
                                 {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--json", "--env", "prod", "--environments",
                                  dir.path() + "/environments.lua"},
                                 env);
    INFO(r.all());
    REQUIRE(r.code == 0);
    CHECK(applied(db));
    CHECK(ledger_rows(db) == 1);
    CHECK(has(r, "restore-verify PASS: restored into an ephemeral PostgreSQL"));
    CHECK(db.count("SELECT count(*) FROM orders") == 2510);  // the writer's rows are in the source
    CHECK(clusters_left(parent) == 0);

    const auto rec = record_of(dir, r);
    REQUIRE(rec["backups"].size() == 1);
    const auto& b = rec["backups"][0];
    CHECK(b["verified"] == "restore");
    const auto& rc = b["restore_check"];
    CHECK(rc["mismatches"].empty());
    std::map<std::string, std::pair<long long, long long>> counts;
    for (const auto& t : rc["counts"]) counts[t["table"].get<std::string>()] = {t["source"].get<long long>(), t["restored"].get<long long>()};
    CHECK(counts["public.customers"] == std::make_pair(100LL, 100LL));
    CHECK(counts["public.orders"] == std::make_pair(2500LL, 2500LL));  // as of the snapshot, not 2510
    CHECK(counts["public.notes"] == std::make_pair(0LL, 0LL));
    CHECK(counts["\"Odd\".\"Mixed Case\""] == std::make_pair(3LL, 3LL));
    CHECK(rc["tables"].get<long long>() == static_cast<long long>(rc["counts"].size()));
    CHECK(rc["rows"].get<long long>() >= 2603);
    CHECK(rc.contains("ms"));
    const auto check = check_named(rec, "backup restorable");
    REQUIRE(!check.is_null());
    CHECK(check["result"] == "PASS");
  }
}

TEST_CASE("a backup whose restored copy lacks a table's rows fails the restore-verify naming the table and both "
          "counts; nothing is applied",
          "[backup][restore-verify]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  seed(db);
  dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
  const std::string parent = cluster_parent(dir);
  const std::string path = std::getenv("PATH");
  // A pg_dump that silently leaves out the rows of one table: the archive is whole and lists.
  const std::string bin = fake_pg_dump(dir, "PATH=\"$REAL_PATH\" exec pg_dump --exclude-table-data=public.orders \"$@\"\n");
  auto r = rbtest::run_runbook(dir, db, "apply-prod.lua",
                               {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--json", "--set", "backup_verify=restore"},
                               {{"TMPDIR", parent}, {"PATH", bin + ":" + path}, {"REAL_PATH", path}});
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(has(r, "step backup"));
  CHECK(has(r, "restore-verify FAIL"));
  CHECK(has(r, "public.orders: 2500 rows in the source, 0 in the restored copy"));
  CHECK(!has(r, "public.customers: "));
  CHECK(has(r, "Nothing was applied"));
  CHECK(!applied(db));
  CHECK(ledger_rows(db) == 0);
  CHECK(clusters_left(parent) == 0);
  const auto rec = record_of(dir, r);
  CHECK(rec["backups"].empty());  // never a backup rollback could pick
  const auto check = check_named(rec, "backup restorable");
  REQUIRE(!check.is_null());
  CHECK(check["result"] == "FAIL");
  CHECK(check["detail"].get<std::string>().find("public.orders") != std::string::npos);
}

TEST_CASE("a corrupt archive fails the backup step under backup_verify = restore; nothing is applied",
          "[backup][restore-verify]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  rbtest::psql(db, "CREATE TABLE payload (id int, body text);"
                   "INSERT INTO payload SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 20000) g");
  dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
  const std::string parent = cluster_parent(dir);
  const std::string path = std::getenv("PATH");
  // The real pg_dump, then 64 bytes in the middle of the archive (inside the table's data) overwritten.
  const std::string bin = fake_pg_dump(dir,
                                       "file=''\n"
                                       "for a in \"$@\"; do case \"$a\" in --file=*) file=\"${a#--file=}\";; esac; done\n"
                                       "PATH=\"$REAL_PATH\" pg_dump \"$@\"\n"
                                       "size=$(stat -c %s \"$file\")\n"
                                       "head -c 64 /dev/zero | tr '\\000' 'X' | "
                                       "dd of=\"$file\" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null\n");
  auto r = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--set", "backup_verify=restore"},
                               {{"TMPDIR", parent}, {"PATH", bin + ":" + path}, {"REAL_PATH", path}});
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(has(r, "step backup"));
  CHECK(has(r, "does not restore (pg_restore into an ephemeral PostgreSQL"));
  CHECK(has(r, "Nothing was applied"));
  CHECK(!applied(db));
  CHECK(ledger_rows(db) == 0);
  CHECK(clusters_left(parent) == 0);
}

TEST_CASE("a bad backup_verify is a configuration error naming the value", "[backup][restore-verify]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
  dir.write("environments.lua",
            "return { prod = { database_env = \"RB_RESTORE_URL\", backup_verify = \"always\" } }\n");
  auto r = rbtest::run_runbook(dir, db, "apply-prod.lua",
                               {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--env", "prod", "--environments", dir.path() + "/environments.lua"},
                               {{"RB_RESTORE_URL", db.url()}});
  INFO(r.all());
  CHECK(r.code == 2);
  CHECK(has(r, "backup_verify must be \"read\" or \"restore\", got \"always\""));
  CHECK(!applied(db));

  auto s = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--set", "backup_verify=full"});
  INFO(s.all());
  CHECK(s.code == 2);
  CHECK(has(s, "parameter backup_verify (--set): expected one of read, restore, got \"full\""));
  CHECK(!applied(db));
}
