// Compatibility mode (`--set ledger=TOOL`) against the REAL peer migration tools that
// scripts/install-deps installs from npm into tests/peers/node_modules (pinned in
// tests/peers/package.json): dbmate 2.36.0, node-pg-migrate 9.0.0, postgrator-cli 9.1.1 and
// Prisma 6.19.3 (offline through tests/peers/prisma/prisma.config.ts). goose is not installable
// here (its npm wrapper downloads the binary at run time), so it has no test.
//
// Each test: the tool applies the first 2 of a 4-migration chain; runbook's dry-run sees
// 2 applied, 2 pending, parity PASS; runbook applies the other 2; the tool's own status then
// has nothing pending; a 5th migration applied by the tool alone makes runbook's parity FAIL,
// naming it and the tool; and the tool's table definition is never altered by runbook.
//
// The tools connect over the unix socket of the test server (PGHOST/PGPORT), to the test's own
// database, and nowhere else (Prisma's update check is turned off with CHECKPOINT_DISABLE=1).
// A tool that is not installed skips its test with a warning, unless RUNBOOK_REQUIRE_PEERS=1
// (set by CI, whose .ci/run runs scripts/install-deps): then a missing tool fails the test.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "engine/shell.hpp"

namespace fs = std::filesystem;
using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {

const std::string kPeers = std::string(RUNBOOK_SOURCE_DIR) + "/tests/peers";
const std::string kNodeModules = kPeers + "/node_modules";
const std::string kDbmate = kNodeModules + "/@dbmate/linux-x64/bin/dbmate";
const std::string kNodePgMigrate = kNodeModules + "/.bin/node-pg-migrate";
const std::string kPostgrator = kNodeModules + "/.bin/postgrator";
const std::string kPrisma = kNodeModules + "/.bin/prisma";
const std::string kPrismaConfig = kPeers + "/prisma/prisma.config.ts";

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}
std::string pg_host() { return env_or("PGHOST", ""); }
std::string pg_port() { return env_or("PGPORT", "5432"); }
std::string pg_user() { return env_or("PGUSER", "postgres"); }

// True when every path exists (and node is on PATH when `needs_node`). Otherwise warns and
// returns false, or fails the test when RUNBOOK_REQUIRE_PEERS=1.
bool peers_present(const std::string& tool, const std::vector<std::string>& paths, bool needs_node) {
  std::string missing;
  for (const auto& p : paths)
    if (!fs::exists(p)) missing += (missing.empty() ? "" : ", ") + p;
  if (needs_node && !rb::find_program("node")) missing += (missing.empty() ? "" : ", ") + std::string("node (on PATH)");
  if (missing.empty()) return true;
  const std::string msg = tool + " is not installed (missing: " + missing + "); run scripts/install-deps";
  if (env_or("RUNBOOK_REQUIRE_PEERS", "") == "1") FAIL(msg << " [RUNBOOK_REQUIRE_PEERS=1]");
  WARN("skipped: " << msg);
  return false;
}

// Runs a peer tool (argv as given, no shell) in `cwd` with `env` added.
CliResult tool(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               const std::string& cwd) {
  rb::Command c;
  c.argv = argv;
  c.env = env;
  c.env.emplace("NO_COLOR", "1");
  c.cwd = cwd;
  c.timeout_s = 120;
  auto r = rb::run_command(c);
  return CliResult{r.timed_out ? -2 : r.exit_code, r.out, r.err};
}

// `pg_dump --schema-only -t TABLE` of the tool's table, without \restrict/\unrestrict lines,
// comments and blank lines: its definition, to prove runbook never ALTERs it.
std::string table_definition(const TempDatabase& db, const std::string& table) {
  rb::Command c;
  c.argv = {"pg_dump", "--schema-only", "--no-owner", "-t", table, "-d", db.name()};
  c.timeout_s = 60;
  auto r = rb::run_command(c);
  if (r.exit_code != 0) throw std::runtime_error("pg_dump -t " + table + " failed: " + r.err);
  std::istringstream in(r.out);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("\\restrict", 0) == 0 || line.rfind("\\unrestrict", 0) == 0 || line.rfind("--", 0) == 0)
      continue;
    out += line + "\n";
  }
  return out;
}

std::string digest(const char* program, const std::string& path) {
  rb::Command c;
  c.argv = {program, path};
  auto r = rb::run_command(c);
  if (r.exit_code != 0 || r.out.size() < 32) throw std::runtime_error(std::string(program) + " " + path + " failed");
  return r.out.substr(0, r.out.find(' '));
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

CliResult runbook_compat(const TempDir& dir, const TempDatabase& db, const std::string& ledger, const std::string& mode) {
  return rbtest::run_runbook(dir, db, "apply.lua", {mode, "--set", "ledger=" + ledger});
}

bool table_exists(const TempDatabase& db, const std::string& table) {
  return db.count("SELECT to_regclass('public." + table + "') IS NOT NULL") == 1;
}

}  // namespace

TEST_CASE("dbmate 2.36: dbmate applies 2, runbook --set ledger=dbmate the rest, dbmate agrees; a 5th by dbmate alone fails parity",
          "[cli][peers]") {
  if (!peers_present("dbmate", {kDbmate}, false)) return;
  TempDir dir;
  TempDatabase db("rb_peer_dbmate");
  const std::string url =
      "postgres://" + pg_user() + "@/" + db.name() + "?host=" + pg_host() + "&port=" + pg_port() + "&sslmode=disable";
  const std::map<std::string, std::string> env{{"DATABASE_URL", url}};
  auto dbmate = [&](const std::string& migdir, const std::vector<std::string>& args) {
    std::vector<std::string> argv{kDbmate, "--no-dump-schema", "--migrations-dir", dir.path() + "/" + migdir};
    argv.insert(argv.end(), args.begin(), args.end());
    return tool(argv, env, dir.path());
  };
  auto file = [](int i) { return "2024010" + std::to_string(i) + "000000_m" + std::to_string(i) + ".sql"; };
  auto body = [](int i) {
    const auto t = "dm" + std::to_string(i);
    return "-- migrate:up\nCREATE TABLE " + t + " (id int);\n\n-- migrate:down\nDROP TABLE " + t + ";\n";
  };
  for (int i = 1; i <= 4; ++i) dir.write("migrations/" + file(i), body(i));
  for (int i = 1; i <= 2; ++i) dir.write("first2/" + file(i), body(i));

  // 1. dbmate applies the first 2 (it has no target option: a directory with only those).
  auto first = dbmate("first2", {"migrate"});
  INFO("dbmate migrate (first 2):\n" << first.all());
  REQUIRE(first.code == 0);
  CHECK(rbtest::psql(db, "SELECT version FROM schema_migrations ORDER BY version") == "20240101000000\n20240102000000\n");
  const auto definition = table_definition(db, "schema_migrations");
  REQUIRE(contains(definition, "CREATE TABLE public.schema_migrations"));

  // 2. runbook's dry-run: 2 applied, 2 pending, parity PASS.
  auto dry = runbook_compat(dir, db, "dbmate", "--dry-run");
  INFO("runbook --dry-run:\n" << dry.all());
  CHECK(dry.code == 0);
  CHECK(contains(dry.all(), "2 applied, 2 pending, parity PASS"));
  CHECK(contains(dry.all(), "dbmate public.schema_migrations"));

  // 3. runbook applies the other 2, recording them in dbmate's table as dbmate does.
  auto applied = runbook_compat(dir, db, "dbmate", "--yes");
  INFO("runbook --yes:\n" << applied.all());
  REQUIRE(applied.code == 0);
  CHECK(table_exists(db, "dm3"));
  CHECK(table_exists(db, "dm4"));
  CHECK(rbtest::psql(db, "SELECT version FROM schema_migrations ORDER BY version") ==
        "20240101000000\n20240102000000\n20240103000000\n20240104000000\n");
  CHECK(table_definition(db, "schema_migrations") == definition);

  // 4. dbmate's own status: nothing pending.
  auto status = dbmate("migrations", {"status", "--exit-code"});
  INFO("dbmate status --exit-code:\n" << status.all());
  CHECK(status.code == 0);
  CHECK(contains(status.out, "Applied: 4"));
  CHECK(contains(status.out, "Pending: 0"));

  // 5. The application's start-up runs dbmate with a 5th migration: runbook's parity fails.
  dir.write("migrations/" + file(5), body(5));
  auto fifth = dbmate("migrations", {"migrate"});
  INFO("dbmate migrate (5th):\n" << fifth.all());
  REQUIRE(fifth.code == 0);
  REQUIRE(table_exists(db, "dm5"));
  auto drift = runbook_compat(dir, db, "dbmate", "--dry-run");
  INFO("runbook --dry-run after the 5th:\n" << drift.all());
  CHECK(drift.code != 0);
  CHECK(contains(drift.all(), "parity FAIL"));
  CHECK(contains(drift.all(), file(5)));
  CHECK(contains(drift.all(), file(5) + " is recorded by dbmate but not by runbook"));

  // 6. The table definition never changed.
  CHECK(table_definition(db, "schema_migrations") == definition);
}

TEST_CASE("node-pg-migrate 9.0: up 2, runbook --set ledger=node-pg-migrate the rest, no migrations to run; a 5th by it alone fails parity",
          "[cli][peers]") {
  if (!peers_present("node-pg-migrate", {kNodePgMigrate}, true)) return;
  TempDir dir;
  TempDatabase db("rb_peer_npgm");
  const std::string url = "postgres://" + pg_user() + "@/" + db.name() + "?host=" + pg_host() + "&port=" + pg_port();
  const std::map<std::string, std::string> env{{"DATABASE_URL", url}};
  auto npgm = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv{kNodePgMigrate};
    argv.insert(argv.end(), args.begin(), args.end());
    for (const char* a : {"--no-verbose", "-m", "migrations"}) argv.emplace_back(a);
    return tool(argv, env, dir.path());
  };
  auto name = [](int i) { return "170000000000" + std::to_string(i) + "_m" + std::to_string(i); };
  auto write = [&](int i) {
    const auto t = "np" + std::to_string(i);
    dir.write("migrations/" + name(i) + ".sql",
              "-- Up Migration\nCREATE TABLE " + t + " (id int);\n\n-- Down Migration\nDROP TABLE " + t + ";\n");
  };
  for (int i = 1; i <= 4; ++i) write(i);

  // 1. node-pg-migrate applies the first 2.
  auto first = npgm({"up", "2"});
  INFO("node-pg-migrate up 2:\n" << first.all());
  REQUIRE(first.code == 0);
  CHECK(rbtest::psql(db, "SELECT name FROM pgmigrations ORDER BY id") == name(1) + "\n" + name(2) + "\n");
  const auto definition = table_definition(db, "pgmigrations");
  REQUIRE(contains(definition, "CREATE TABLE public.pgmigrations"));

  // 2. runbook's dry-run: 2 applied, 2 pending, parity PASS.
  auto dry = runbook_compat(dir, db, "node-pg-migrate", "--dry-run");
  INFO("runbook --dry-run:\n" << dry.all());
  CHECK(dry.code == 0);
  CHECK(contains(dry.all(), "2 applied, 2 pending, parity PASS"));
  CHECK(contains(dry.all(), "node-pg-migrate public.pgmigrations"));

  // 3. runbook applies the other 2.
  auto applied = runbook_compat(dir, db, "node-pg-migrate", "--yes");
  INFO("runbook --yes:\n" << applied.all());
  REQUIRE(applied.code == 0);
  CHECK(table_exists(db, "np3"));
  CHECK(table_exists(db, "np4"));
  CHECK(rbtest::psql(db, "SELECT name FROM pgmigrations WHERE run_on IS NOT NULL ORDER BY id") ==
        name(1) + "\n" + name(2) + "\n" + name(3) + "\n" + name(4) + "\n");
  CHECK(table_definition(db, "pgmigrations") == definition);

  // 4. node-pg-migrate has no status command: its dry run says there is nothing to run.
  auto status = npgm({"up", "--dry-run"});
  INFO("node-pg-migrate up --dry-run:\n" << status.all());
  CHECK(status.code == 0);
  CHECK(contains(status.out, "No migrations to run!"));

  // 5. The application's start-up runs node-pg-migrate with a 5th migration.
  write(5);
  auto fifth = npgm({"up"});
  INFO("node-pg-migrate up (5th):\n" << fifth.all());
  REQUIRE(fifth.code == 0);
  REQUIRE(table_exists(db, "np5"));
  auto drift = runbook_compat(dir, db, "node-pg-migrate", "--dry-run");
  INFO("runbook --dry-run after the 5th:\n" << drift.all());
  CHECK(drift.code != 0);
  CHECK(contains(drift.all(), "parity FAIL"));
  CHECK(contains(drift.all(), name(5) + ".sql"));
  CHECK(contains(drift.all(), name(5) + ".sql is recorded by node-pg-migrate but not by runbook"));

  // 6. The table definition never changed.
  CHECK(table_definition(db, "pgmigrations") == definition);
}

TEST_CASE("postgrator-cli 9.1: target 2, runbook --set ledger=postgrator the rest, its md5 checks pass; a 5th by it alone fails parity",
          "[cli][peers]") {
  if (!peers_present("postgrator-cli", {kPostgrator}, true)) return;
  TempDir dir;
  TempDatabase db("rb_peer_pgrator");
  auto postgrator = [&](const std::vector<std::string>& target) {
    std::vector<std::string> argv{kPostgrator};
    argv.insert(argv.end(), target.begin(), target.end());
    for (const auto& a : std::vector<std::string>{"--no-config", "--host", pg_host(), "--port", pg_port(), "--database", db.name(),
                                                  "--username", pg_user(), "-m", dir.path() + "/migrations/*"})
      argv.push_back(a);
    return tool(argv, {}, dir.path());
  };
  auto file = [](int i) { return "00" + std::to_string(i) + ".do.m" + std::to_string(i) + ".sql"; };
  auto write = [&](int i) {
    dir.write("migrations/" + file(i), "CREATE TABLE pg" + std::to_string(i) + " (id int);\n");
    dir.write("migrations/00" + std::to_string(i) + ".undo.m" + std::to_string(i) + ".sql",
              "DROP TABLE pg" + std::to_string(i) + ";\n");
  };
  for (int i = 1; i <= 4; ++i) write(i);
  const char* kRows = "SELECT version || ':' || coalesce(name, '') FROM schemaversion ORDER BY version";

  // 1. postgrator migrates to version 2 (its seed row 0 included).
  auto first = postgrator({"2"});
  INFO("postgrator 2:\n" << first.all());
  REQUIRE(first.code == 0);
  CHECK(rbtest::psql(db, kRows) == "0:\n1:m1\n2:m2\n");
  const auto definition = table_definition(db, "schemaversion");
  REQUIRE(contains(definition, "CREATE TABLE public.schemaversion"));

  // 2. runbook's dry-run: 2 applied, 2 pending, parity PASS.
  auto dry = runbook_compat(dir, db, "postgrator", "--dry-run");
  INFO("runbook --dry-run:\n" << dry.all());
  CHECK(dry.code == 0);
  CHECK(contains(dry.all(), "2 applied, 2 pending, parity PASS"));
  CHECK(contains(dry.all(), "postgrator public.schemaversion"));

  // 3. runbook applies the other 2, with postgrator's md5 of each .do. file.
  auto applied = runbook_compat(dir, db, "postgrator", "--yes");
  INFO("runbook --yes:\n" << applied.all());
  REQUIRE(applied.code == 0);
  CHECK(table_exists(db, "pg3"));
  CHECK(table_exists(db, "pg4"));
  CHECK(rbtest::psql(db, kRows) == "0:\n1:m1\n2:m2\n3:m3\n4:m4\n");
  for (int i = 3; i <= 4; ++i)
    CHECK(rbtest::psql(db, "SELECT md5 FROM schemaversion WHERE version = " + std::to_string(i) + " AND run_at IS NOT NULL") ==
          digest("md5sum", dir.path() + "/migrations/" + file(i)) + "\n");
  CHECK(table_definition(db, "schemaversion") == definition);

  // 4. postgrator run again: nothing to apply, and it re-validates the checksum of every
  // applied file, runbook's two included.
  auto again = postgrator({});
  INFO("postgrator (again):\n" << again.all());
  CHECK(again.code == 0);
  CHECK(contains(again.all(), "version of database is: 4"));
  for (int i = 1; i <= 4; ++i) CHECK(contains(again.all(), "verifying checksum of migration " + dir.path() + "/migrations/" + file(i)));
  CHECK_FALSE(contains(again.all(), "running "));
  CHECK_FALSE(contains(again.all(), "checksum failed"));
  CHECK(rbtest::psql(db, kRows) == "0:\n1:m1\n2:m2\n3:m3\n4:m4\n");

  // 5. The application's start-up runs postgrator with a 5th migration.
  write(5);
  auto fifth = postgrator({});
  INFO("postgrator (5th):\n" << fifth.all());
  REQUIRE(fifth.code == 0);
  REQUIRE(table_exists(db, "pg5"));
  auto drift = runbook_compat(dir, db, "postgrator", "--dry-run");
  INFO("runbook --dry-run after the 5th:\n" << drift.all());
  CHECK(drift.code != 0);
  CHECK(contains(drift.all(), "parity FAIL"));
  CHECK(contains(drift.all(), file(5)));
  CHECK(contains(drift.all(), file(5) + " is recorded by postgrator but not by runbook"));

  // 6. The table definition never changed.
  CHECK(table_definition(db, "schemaversion") == definition);
}

TEST_CASE("Prisma 6.19 (JS engine): deploy 2, runbook --set ledger=prisma the rest, migrate status up to date; a 5th by Prisma alone fails parity",
          "[cli][peers]") {
  if (!peers_present("prisma", {kPrisma, kNodeModules + "/@prisma/adapter-pg", kPrismaConfig}, true)) return;
  TempDir dir;
  TempDatabase db("rb_peer_prisma");
  const auto no_engine = dir.write("no-query-engine", "");  // workaround 1: only its existence is checked
  const std::string url =
      "postgresql://" + pg_user() + "@localhost/" + db.name() + "?host=" + pg_host() + "&port=" + pg_port();
  auto prisma = [&](const std::string& migdir, const std::string& command) {
    const std::map<std::string, std::string> env{{"DATABASE_URL", url},
                                                 {"PRISMA_MIGRATIONS_DIR", dir.path() + "/" + migdir},
                                                 {"PRISMA_QUERY_ENGINE_LIBRARY", no_engine},
                                                 {"CHECKPOINT_DISABLE", "1"},  // no update check over the network
                                                 {"PRISMA_HIDE_UPDATE_MESSAGE", "1"}};
    return tool({kPrisma, "migrate", command, "--config", kPrismaConfig}, env, dir.path());
  };
  auto name = [](int i) { return "2024010" + std::to_string(i) + "000000_m" + std::to_string(i); };
  auto write = [&](const std::string& migdir, int i) {
    dir.write(migdir + "/" + name(i) + "/migration.sql", "CREATE TABLE pr" + std::to_string(i) + " (id int);\n");
  };
  for (const char* d : {"migrations", "first2"}) dir.write(std::string(d) + "/migration_lock.toml", "provider = \"postgresql\"\n");
  for (int i = 1; i <= 4; ++i) write("migrations", i);
  for (int i = 1; i <= 2; ++i) write("first2", i);
  const char* kRows =
      "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"
      " ORDER BY migration_name";

  // 1. prisma migrate deploy with a directory holding only the first 2.
  auto first = prisma("first2", "deploy");
  INFO("prisma migrate deploy (first 2):\n" << first.all());
  REQUIRE(first.code == 0);
  CHECK(rbtest::psql(db, kRows) == name(1) + "\n" + name(2) + "\n");
  CHECK(db.count("SELECT count(*) FROM _prisma_migrations") == 2);
  const auto definition = table_definition(db, "_prisma_migrations");
  REQUIRE(contains(definition, "CREATE TABLE public._prisma_migrations"));

  // 2. runbook's dry-run: 2 applied, 2 pending, parity PASS.
  auto dry = runbook_compat(dir, db, "prisma", "--dry-run");
  INFO("runbook --dry-run:\n" << dry.all());
  CHECK(dry.code == 0);
  CHECK(contains(dry.all(), "2 applied, 2 pending, parity PASS"));
  CHECK(contains(dry.all(), "prisma public._prisma_migrations"));

  // 3. runbook applies the other 2, with Prisma's checksum (sha256 of migration.sql).
  auto applied = runbook_compat(dir, db, "prisma", "--yes");
  INFO("runbook --yes:\n" << applied.all());
  REQUIRE(applied.code == 0);
  CHECK(table_exists(db, "pr3"));
  CHECK(table_exists(db, "pr4"));
  CHECK(rbtest::psql(db, kRows) == name(1) + "\n" + name(2) + "\n" + name(3) + "\n" + name(4) + "\n");
  for (int i = 3; i <= 4; ++i)
    CHECK(rbtest::psql(db, "SELECT checksum || ':' || applied_steps_count FROM _prisma_migrations WHERE migration_name = '" +
                               name(i) + "'") ==
          rbtest::sha256sum(dir.path() + "/migrations/" + name(i) + "/migration.sql") + ":1\n");
  CHECK(table_definition(db, "_prisma_migrations") == definition);

  // 4. prisma migrate status: up to date (rc 1 when anything is pending or failed).
  auto status = prisma("migrations", "status");
  INFO("prisma migrate status:\n" << status.all());
  CHECK(status.code == 0);
  CHECK(contains(status.all(), "Database schema is up to date!"));

  // 5. The application's start-up runs prisma migrate deploy with a 5th migration.
  write("migrations", 5);
  auto fifth = prisma("migrations", "deploy");
  INFO("prisma migrate deploy (5th):\n" << fifth.all());
  REQUIRE(fifth.code == 0);
  REQUIRE(table_exists(db, "pr5"));
  auto drift = runbook_compat(dir, db, "prisma", "--dry-run");
  INFO("runbook --dry-run after the 5th:\n" << drift.all());
  CHECK(drift.code != 0);
  CHECK(contains(drift.all(), "parity FAIL"));
  CHECK(contains(drift.all(), name(5)));  // Prisma's name for it: the directory
  CHECK(contains(drift.all(), name(5) + " is recorded by prisma but not by runbook"));

  // 6. The table definition never changed.
  CHECK(table_definition(db, "_prisma_migrations") == definition);
}
