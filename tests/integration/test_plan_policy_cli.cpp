// Safety by construction (issue 6): what a run changes is one plan made by the engine, and the
// policy's requirements are enforced where the change happens. Every test reads the database
// itself to decide whether something changed.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "engine/apply.hpp"
#include "engine/ledger.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {

const char* kDrop = "DROP TABLE victim;\n";
const char* kHarmless = "CREATE TABLE newbie (id int);\n";

// A chain with 0001 and 0003 applied; the pending file is 0002 (a gap below applied ones) or
// 0004 (plainly pending); it drops a table or creates one.
struct Scenario {
  bool gap = false;
  bool destructive = false;
};

void write_base(const TempDir& dir) {
  dir.write("migrations/0001_base.sql", "CREATE TABLE victim (id int);\nCREATE TABLE keep (id int);\n");
  dir.write("migrations/0003_mid.sql", "CREATE TABLE mid (id int);\n");
}

std::string pending_file(const Scenario& s) { return s.gap ? "0002_change.sql" : "0004_change.sql"; }

rb::db::Connection admin() {
  rb::db::ConnectOptions o;
  o.dbname = "postgres";
  return rb::db::Connection(o);
}

// The database's own answer: did anything of the pending change land?
bool changed(const TempDatabase& db) {
  return db.count("SELECT count(*) FROM schema_migrations") != 2 ||
         db.count("SELECT to_regclass('public.victim') IS NULL") == 1 ||
         db.count("SELECT to_regclass('public.newbie') IS NOT NULL") == 1;
}

nlohmann::json last_record(const TempDir& dir) {
  // The newest by modification time: run ids of one second differ only in a random suffix.
  auto files = rbtest::files_in(dir.path() + "/journal", ".json");
  REQUIRE(!files.empty());
  std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
    return std::filesystem::last_write_time(a) < std::filesystem::last_write_time(b);
  });
  return nlohmann::json::parse(rbtest::read_file(files.back()));
}

// Prepares `db` with 0001 and 0003 applied, then adds the pending file.
void prepare(const TempDir& dir, const TempDatabase& db, const Scenario& s) {
  write_base(dir);
  auto base = rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "-q"});
  INFO(base.all());
  REQUIRE(base.code == 0);
  std::filesystem::remove_all(dir.path() + "/.runbook/backups");  // the base run's own backup
  dir.write("migrations/" + pending_file(s), s.destructive ? kDrop : kHarmless);
}

}  // namespace

TEST_CASE("allow_drift with a gap: the gap is in the plan, so confirmation, backup and acknowledgement apply",
          "[cli][plan][policy]") {
  TempDir dir;
  TempDatabase db;
  prepare(dir, db, {true, true});

  // The reproduction: no terminal, no --confirm. Before, confirm/pause/backup said "nothing to
  // apply" and the apply step dropped the table.
  auto r = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--set", "allow_drift=true"});
  INFO(r.all());
  CHECK(r.code == 3);
  CHECK(!changed(db));
  CHECK(r.err.find("0002_change.sql") != std::string::npos);

  // The token alone is not enough: the DROP TABLE needs its acknowledgement by name.
  auto token = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--set", "allow_drift=true", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--yes"});
  INFO(token.all());
  CHECK(token.code == 3);
  CHECK(token.err.find("--ack drop-table@0002_change.sql") != std::string::npos);
  CHECK(!changed(db));
  CHECK(rbtest::listing(dir.path() + "/.runbook/backups").empty());  // nothing confirmed, nothing backed up

  auto ok = rbtest::run_runbook(dir, db, "apply-prod.lua",
                                {"--set", "allow_drift=true", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--ack", "drop-table@0002_change.sql"});
  INFO(ok.all());
  CHECK(ok.code == 0);
  CHECK(db.count("SELECT to_regclass('public.victim') IS NULL") == 1);
  CHECK(rbtest::listing(dir.path() + "/.runbook/backups").size() == 1);
  const auto rec = last_record(dir);
  CHECK(rec["plan"]["migrations"] == nlohmann::json::array({"0002_change.sql"}));
  CHECK(rec["backups"].at(0)["plan"] == rec["plan"]["id"]);
}

TEST_CASE("the acknowledgement is the plan's: --skip review, --only apply and --from confirm cannot drop it",
          "[cli][plan][policy]") {
  TempDir dir;
  TempDatabase db;
  prepare(dir, db, {false, true});
  for (const auto& selection : std::vector<std::vector<std::string>>{
           {"--skip", "review"}, {"--only", "apply"}, {"--from", "confirm"}, {"--from", "apply"}}) {
    auto args = selection;
    args.insert(args.end(), {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--yes"});
    auto r = rbtest::run_runbook(dir, db, "apply-prod.lua", args);
    INFO(selection[0] << " " << selection[1] << "\n" << r.all());
    CHECK(r.code == 3);
    CHECK(r.err.find("--ack drop-table@0004_change.sql") != std::string::npos);
    CHECK(!changed(db));
  }
}

TEST_CASE("a run that cannot get the migration lock pauses nothing and backs up nothing", "[cli][plan][lock]") {
  TempDir dir;
  TempDatabase db;
  prepare(dir, db, {false, false});
  const std::string paused = dir.path() + "/paused", resumed = dir.path() + "/resumed";
  dir.write("environments.lua", "return { prod = { database_env = 'TEST_DB_URL', hooks = {\n"
                                "  pause_workers = { 'touch', '" + paused + "' },\n"
                                "  resume_workers = { 'touch', '" + resumed + "' } } } }\n");
  // The first runner: this test's own session holds the ledger's lock.
  auto holder = db.connect();
  rb::migrations::Ledger ledger(holder);
  REQUIRE(holder.try_advisory_lock(ledger.lock_key()));

  auto r = rbtest::run_runbook(dir, db, "apply-prod.lua",
                               {"--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--set", "lock_wait=1s"},
                               {{"TEST_DB_URL", db.url()}});
  INFO(r.all());
  CHECK(r.code == 3);
  CHECK(r.err.find("another runner holds the migration lock") != std::string::npos);
  CHECK(!std::filesystem::exists(paused));
  CHECK(!std::filesystem::exists(resumed));  // the failure handler undoes only what this run did
  CHECK(rbtest::listing(dir.path() + "/.runbook/backups").empty());
  CHECK(!changed(db));

  holder.advisory_unlock(ledger.lock_key());
  auto second = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--env", "prod", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()},
                                    {{"TEST_DB_URL", db.url()}});
  INFO(second.all());
  CHECK(second.code == 0);
  CHECK(std::filesystem::exists(paused));
  CHECK(std::filesystem::exists(resumed));
}

TEST_CASE("--plan-out then --plan: an edited file, a moved ledger or another database refuse; the same plan applies",
          "[cli][plan][saved]") {
  TempDir dir;
  TempDatabase db;
  prepare(dir, db, {false, false});
  const std::string plan = dir.path() + "/plan.json";
  auto out = rbtest::run_runbook(dir, db, "apply.lua", {"--dry-run", "--plan-out", plan});
  INFO(out.all());
  REQUIRE(out.code == 0);
  const auto saved = nlohmann::json::parse(rbtest::read_file(plan));
  // Private like the run record (issue 9): it names the database, the files and the findings.
  CHECK((std::filesystem::status(plan).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK(saved["format"] == "runbook-plan/1");
  CHECK(saved["migrations"].size() == 1);
  CHECK(saved["migrations"][0]["name"] == "0004_change.sql");
  CHECK(saved["ledger_rows"] == 2);

  SECTION("an edit to the pending file") {
    dir.write("migrations/0004_change.sql", "CREATE TABLE newbie (id int, extra text);\n");
    auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "--plan", plan});
    INFO(r.all());
    CHECK(r.code == 4);
    CHECK(r.err.find("0004_change.sql was edited since the plan was made") != std::string::npos);
    CHECK(!changed(db));
  }
  SECTION("the ledger moved") {
    rbtest::psql(db, "DELETE FROM schema_migrations WHERE filename = '0003_mid.sql'");
    auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "--plan", plan, "--set", "allow_drift=true"});
    INFO(r.all());
    CHECK(r.code == 4);
    CHECK(r.err.find("the ledger changed since the plan was made") != std::string::npos);
    CHECK(db.count("SELECT to_regclass('public.newbie') IS NOT NULL") == 0);
  }
  SECTION("another database") {
    TempDatabase other;
    TempDir dir2;
    prepare(dir2, other, {false, false});
    auto r = rbtest::run_runbook(dir2, other, "apply.lua", {"--yes", "--plan", plan});
    INFO(r.all());
    CHECK(r.code == 4);
    CHECK(r.err.find("another database") != std::string::npos);
  }
  SECTION("the unchanged plan applies exactly its migrations, each file parsed once") {
    auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes", "--plan", plan});
    INFO(r.all());
    CHECK(r.code == 0);
    CHECK(db.count("SELECT count(*) FROM schema_migrations") == 3);
    CHECK(db.count("SELECT to_regclass('public.newbie') IS NOT NULL") == 1);
    const auto rec = last_record(dir);
    CHECK(rec["plan"]["id"] == saved["id"]);
    CHECK(rec["plan"]["applied_from"] == plan);
    REQUIRE(rec["stats"]["parses"].is_object());
    CHECK(rec["stats"]["parses"].size() == 1);
    for (const auto& [file, n] : rec["stats"]["parses"].items()) {
      INFO(file);
      CHECK(n == 1);
    }
    CHECK(rec["stats"]["ledger_reads"].get<int>() >= 2);  // the plan, and apply's check under the lock
    CHECK(rec["stats"]["ledger_reads"].get<int>() <= 6);
  }
}

TEST_CASE("a composition that loosens the backup says so in the run record; one that removes the step cannot",
          "[cli][plan][policy]") {
  TempDir dir;
  TempDatabase db;
  prepare(dir, db, {false, false});
  dir.write("prod-lite.lua", "return require('apply-prod'):with { name = 'prod-lite', backup = 'optional' }\n");
  dir.write("prod-nobackup.lua",
            "return require('apply-prod'):replace('backup', function(ctx) ctx:log('no backup today') end)\n");
  auto replaced = rbtest::run_runbook(dir, db, "prod-nobackup.lua", {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()});
  INFO(replaced.all());
  CHECK(replaced.code == 3);
  CHECK(replaced.err.find("a verified backup taken in this run for this plan") != std::string::npos);
  CHECK(!changed(db));

  auto lite = rbtest::run_runbook(dir, db, "prod-lite.lua", {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist(), "--skip", "preflight", "--set", "backup_dir=/nonexistent/x"});
  INFO(lite.all());
  CHECK(lite.code == 0);
  CHECK(lite.err.find("policy loosened by composition: backup: required -> optional") != std::string::npos);
  const auto rec = last_record(dir);
  CHECK(rec["policy"]["loosened"].size() == 1);
}

TEST_CASE("rollback stops between down scripts when interrupted", "[engine][rollback][interrupt]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/0001_a.up.sql", "CREATE TABLE a (id int);\n");
  dir.write("migrations/0001_a.down.sql", "DROP TABLE a;\n");
  dir.write("migrations/0002_b.up.sql", "CREATE TABLE b (id int);\n");
  dir.write("migrations/0002_b.down.sql", "DROP TABLE b;\n");
  auto conn = db.connect();
  rb::migrations::Ledger ledger(conn);
  const auto chain = rb::migrations::load_chain(dir.path() + "/migrations");
  rb::migrations::apply(conn, ledger, chain, rb::migrations::ApplyOptions{});
  REQUIRE(db.count("SELECT count(*) FROM schema_migrations") == 2);
  bool stop = false;
  rb::migrations::ApplyObserver obs;
  obs.finished = [&](const rb::migrations::MigrationOutcome&) { stop = true; };  // ^C during the first
  obs.interrupted = [&] { return stop; };
  rb::migrations::RollbackOptions o;
  o.count = 2;
  CHECK_THROWS_WITH(rb::migrations::rollback(conn, ledger, chain, o, obs),
                    Catch::Contains("1 of 2 migration(s) are rolled back"));
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
  CHECK(db.count("SELECT to_regclass('public.b') IS NULL") == 1);
  CHECK(db.count("SELECT to_regclass('public.a') IS NOT NULL") == 1);
}

namespace {

std::vector<std::string> step_names(const TempDir& dir, const std::string& runbook) {
  auto r = rbtest::run_cli({"--describe", runbook}, {}, dir.path());
  REQUIRE(r.code == 0);
  std::vector<std::string> names;
  std::istringstream in(r.out);
  std::string line;
  bool steps = false;
  while (std::getline(in, line)) {
    if (line == "Steps:") steps = true;
    else if (steps) {
      std::istringstream l(line);
      std::string n, name;
      if (l >> n >> name) names.push_back(name + (line.find("[gate") != std::string::npos ? "*" : ""));
    }
  }
  return names;
}

// --only S, --from S and --skip S (non-gates) for every step, and no selection.
std::vector<std::vector<std::string>> selections(const std::vector<std::string>& steps) {
  std::vector<std::vector<std::string>> out{{}};
  for (auto s : steps) {
    const bool gate = s.back() == '*';
    if (gate) s.pop_back();
    out.push_back({"--only", s});
    out.push_back({"--from", s});
    if (!gate) out.push_back({"--skip", s});
  }
  return out;
}

void reset_from(const TempDatabase& db, const std::string& tmpl) {
  auto a = admin();
  a.run_script("DROP DATABASE IF EXISTS " + db.name() + " WITH (FORCE)");
  a.run_script("CREATE DATABASE " + db.name() + " TEMPLATE " + tmpl);
}

}  // namespace

// The property: whatever --only/--from/--skip select, with or without allow_drift and a gap,
// with destructive or harmless pending SQL, a live apply changes the schema only when this run
// gave the policy's token, acknowledged each destructive finding (where the policy asks) and
// took a verified backup for this plan (where the policy requires one) — read from the database
// and the run record. Runs have no terminal (stdin is empty); the terminal paths are the
// same engine checks reached through a prompt.
TEST_CASE("property: no selection of steps changes the schema without token, backup and acknowledgement",
          "[cli][plan][policy][property]") {
  struct Policy {
    std::string runbook, token;
    bool backup_required, ack;
  };
  const std::vector<Policy> policies{{"apply-prod.lua", "PROD-OK", true, true},
                                     {"apply-staging.lua", "STAGING-OK", false, false},
                                     {"apply.lua", "", false, false}};
  TempDir probe;
  write_base(probe);
  std::size_t runs = 0, changes = 0;
  for (const Scenario sc : {Scenario{false, false}, Scenario{false, true}, Scenario{true, false}, Scenario{true, true}}) {
    TempDir dir;
    TempDatabase tmpl("rb_prop_tmpl");
    prepare(dir, tmpl, sc);
    auto a = admin();
    a.run_script("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + tmpl.name() + "'");
    TempDatabase db("rb_prop");
    reset_from(db, tmpl.name());
    for (const auto& pol : policies) {
      for (const auto& sel : selections(step_names(dir, pol.runbook))) {
        // allow_drift matters only with a gap; --ack only with destructive SQL.
        for (const bool allow_drift : sc.gap ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
          for (int creds = 0; creds < (sc.destructive ? 3 : 2); ++creds) {  // 0: nothing, 1: token (and --yes), 2: + --ack
            std::vector<std::string> args = sel;
            if (allow_drift) args.insert(args.end(), {"--set", "allow_drift=true"});
            const bool token = creds >= 1, acked = creds == 2;
            if (token) {
              if (!pol.token.empty()) args.insert(args.end(), {"--confirm", pol.token});
              if (pol.runbook == "apply-prod.lua") args.insert(args.end(), {"--checklist", rbtest::prod_checklist()});
              args.push_back("--yes");
            }
            if (acked) args.insert(args.end(), {"--ack", "drop-table@" + pending_file(sc)});
            std::filesystem::remove_all(dir.path() + "/.runbook/backups");
            auto r = rbtest::run_runbook(dir, db, pol.runbook, args);
            ++runs;
            if (r.code == 2) continue;  // --skip of a gate or similar: refused before anything ran
            if (!changed(db)) continue;
            ++changes;
            INFO(pol.runbook << " gap=" << sc.gap << " destructive=" << sc.destructive << " allow_drift=" << allow_drift
                             << " creds=" << creds << " args: " << [&] { std::string t; for (auto& x : args) t += x + " "; return t; }()
                             << "\n" << r.all());
            CHECK(token);
            if (sc.destructive && pol.ack) CHECK(acked);
            if (sc.gap) CHECK(allow_drift);
            if (pol.backup_required) {
              const auto rec = last_record(dir);
              REQUIRE(rec["backups"].size() == 1);
              CHECK(rec["backups"][0]["plan"] == rec["plan"]["id"]);
              CHECK(std::filesystem::exists(rec["backups"][0]["path"].get<std::string>()));
            }
            reset_from(db, tmpl.name());
          }
        }
      }
    }
  }
  INFO(runs << " runs, " << changes << " changed the schema");
  CHECK(changes > 0);  // the walk reaches the allowed changes too: the property is not vacuous
  WARN("policy walk: " << runs << " runs, " << changes << " changed the schema");
}

// The same property for rollback.lua: no selection of steps runs a down script without the
// confirmation (its policy has no token: --yes answers it), the acknowledgement of its
// destructive SQL by name (--yes never gives it) and the maintenance step.
TEST_CASE("property: no selection of rollback's steps rolls back without confirmation and acknowledgement",
          "[cli][plan][policy][property]") {
  TempDir dir;
  TempDatabase tmpl("rb_prop_rb_tmpl");
  dir.write("migrations/0001_a.up.sql", "CREATE TABLE a (id int);\n");
  dir.write("migrations/0001_a.down.sql", "DROP TABLE a;\n");
  dir.write("migrations/0002_b.up.sql", "CREATE TABLE b (id int);\n");
  dir.write("migrations/0002_b.down.sql", "DROP TABLE b;\n");
  auto base = rbtest::run_runbook(dir, tmpl, "apply.lua", {"--yes", "-q"});
  REQUIRE(base.code == 0);
  admin().run_script("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + tmpl.name() + "'");
  TempDatabase db("rb_prop_rb");
  reset_from(db, tmpl.name());
  std::size_t changes = 0;
  for (const auto& sel : selections(step_names(dir, "rollback.lua"))) {
    for (const bool yes : {false, true}) {
      for (const bool ack : {false, true}) {
        auto args = sel;
        if (yes) args.push_back("--yes");
        if (ack) args.insert(args.end(), {"--ack", "drop-table@0002_b.down.sql"});
        auto r = rbtest::run_runbook(dir, db, "rollback.lua", args);
        if (db.count("SELECT count(*) FROM schema_migrations") == 2 && db.count("SELECT to_regclass('public.b') IS NOT NULL") == 1)
          continue;
        ++changes;
        INFO((sel.empty() ? std::string("(all steps)") : sel[0] + " " + sel[1]) << " yes=" << yes << " ack=" << ack << "\n"
                                                                                   << r.all());
        CHECK(yes);
        CHECK(ack);
        const auto rec = last_record(dir);
        bool paused = false;
        for (const auto& s : rec["steps"])
          if (s.value("name", "") == "pause" && s.value("status", "") == "ok") paused = true;
        CHECK(paused);
        reset_from(db, tmpl.name());
      }
    }
  }
  CHECK(changes > 0);
}

TEST_CASE("a failed migration names the statement with the server's DETAIL and SQLSTATE, and says what to do next",
          "[cli][errors]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/0001_t.sql", "CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (1);\n");
  dir.write("migrations/0002_dup.sql", "INSERT INTO t VALUES (2);\nINSERT INTO t VALUES (1);\n");
  auto r = rbtest::run_runbook(dir, db, "apply.lua", {"--yes"});
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(r.err.find("0002_dup.sql failed at statement 2 of 2 (line 2)") != std::string::npos);
  CHECK(r.err.find("DETAIL: Key (id)=(1) already exists.") != std::string::npos);
  CHECK(r.err.find("SQLSTATE 23505") != std::string::npos);
  CHECK(r.err.find("1 of the plan's 2 migration(s) are committed, 1 are not") != std::string::npos);
  CHECK(r.err.find("runbook rollback.lua --set count=1") != std::string::npos);
  CHECK(r.err.find("lib/migrate.lua:") == std::string::npos);  // no internal location for the operator
}
