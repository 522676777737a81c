// The apply runbooks through the real CLI: exit codes, messages, and the database after.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <thread>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::run_cli;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
const char* kSampleCount = "SELECT count(*) FROM schema_migrations";


CliResult apply(const TempDir& dir, const TempDatabase& db, const std::vector<std::string>& extra = {},
                const std::string& runbook = "apply.lua") {
  return rbtest::run_runbook(dir, db, runbook, extra);
}
}  // namespace

TEST_CASE("apply.lua applies the sample chain, and a second run applies nothing", "[cli][apply]") {
  TempDir dir;
  TempDatabase db;
  const auto chain = rbtest::copy_sample_chain(dir);
  const auto n = static_cast<long long>(rbtest::files_in(chain, ".up.sql").size());
  REQUIRE(n >= 8);

  auto first = apply(dir, db, {"--yes"});
  INFO(first.all());
  REQUIRE(first.code == 0);
  CHECK(db.count(kSampleCount) == n);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE sha256 ~ '^[0-9a-f]{64}$' AND run_id IS NOT NULL") == n);
  CHECK(db.count("SELECT to_regclass('public.hero_snapshots') IS NOT NULL") == 1);
  CHECK(first.err.find("parity PASS") != std::string::npos);

  const auto applied_at = db.count("SELECT extract(epoch FROM max(applied_at))::bigint FROM schema_migrations");
  const auto backups = rbtest::listing(dir.path() + "/.runbook/backups");
  CHECK(backups.size() == 1);
  auto second = apply(dir, db);  // no --yes needed: nothing to confirm
  INFO(second.all());
  REQUIRE(second.code == 0);
  CHECK(second.err.find("nothing to apply") != std::string::npos);
  CHECK(db.count(kSampleCount) == n);
  CHECK(db.count("SELECT extract(epoch FROM max(applied_at))::bigint FROM schema_migrations") == applied_at);
  CHECK(rbtest::listing(dir.path() + "/.runbook/backups") == backups);  // nothing to change, nothing to back up
}

TEST_CASE("--describe shows parameters and steps without any database", "[cli][describe]") {
  TempDir dir;
  auto r = run_cli({"--describe", "apply-prod.lua"},
                   {{"DATABASE_URL", "postgresql://nobody:secret@192.0.2.1:1/none"}, {"PGHOST", "/nonexistent"}},
                   dir.path());
  INFO(r.all());
  REQUIRE(r.code == 0);
  for (const char* s : {"apply-prod", "lock_timeout", "\"5s\"", "PROD-OK", "connect", "parity", "confirm", "apply", "verify"})
    CHECK(r.out.find(s) != std::string::npos);
}

TEST_CASE("--dry-run with pending migrations changes nothing and prints the SQL", "[cli][dry-run]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  // Half the chain applied for real first, so dry-run sees an existing ledger.
  REQUIRE(apply(dir, db, {"--yes", "--set", "target=0005"}).code == 0);
  const auto before = db.schema_dump();
  const auto ledger_before = db.count(kSampleCount);

  auto r = apply(dir, db, {"--dry-run"});
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(db.schema_dump() == before);
  CHECK(db.count(kSampleCount) == ledger_before);
  CHECK(r.all().find("CREATE TABLE backfill_jobs") != std::string::npos);
  CHECK(r.all().find("CREATE INDEX CONCURRENTLY") != std::string::npos);
  CHECK(r.all().find("would ask") != std::string::npos);
  CHECK(r.all().find("nothing was changed") != std::string::npos);
}

TEST_CASE("--dry-run on an empty database does not even create the ledger", "[cli][dry-run]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  const auto before = db.schema_dump();
  auto r = apply(dir, db, {"--dry-run"});
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(db.schema_dump() == before);
  CHECK(db.count("SELECT to_regclass('public.schema_migrations') IS NULL") == 1);
}

TEST_CASE("an edited applied migration makes apply refuse, naming the file", "[cli][drift]") {
  TempDir dir;
  TempDatabase db;
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(apply(dir, db, {"--yes", "--set", "target=0004"}).code == 0);
  dir.write("migrations/0002_create_hero_snapshots.up.sql",
            rbtest::read_file(chain + "/0002_create_hero_snapshots.up.sql") + "\n-- edited after apply\n");
  const auto ledger_before = db.count(kSampleCount);

  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  CHECK(r.code == 4);
  CHECK(r.err.find("0002_create_hero_snapshots.up.sql") != std::string::npos);
  CHECK(r.err.find("edited") != std::string::npos);
  CHECK(db.count(kSampleCount) == ledger_before);  // nothing more applied

  // A deliberate override applies the rest; verification still reports the edited file.
  auto forced = apply(dir, db, {"--yes", "--set", "allow_drift=true"});
  INFO(forced.all());
  CHECK(forced.code == 4);
  CHECK(db.count(kSampleCount) == static_cast<long long>(rbtest::files_in(chain, ".up.sql").size()));
  CHECK(forced.err.find("0002_create_hero_snapshots.up.sql was edited") != std::string::npos);
}

TEST_CASE("a migration that differs only in line endings is not drift", "[cli][drift]") {
  TempDir dir;
  TempDatabase db;
  const auto chain = rbtest::copy_sample_chain(dir);
  REQUIRE(apply(dir, db, {"--yes", "--set", "target=0003"}).code == 0);
  std::string text = rbtest::read_file(chain + "/0002_create_hero_snapshots.up.sql"), crlf;
  for (char c : text) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  dir.write("migrations/0002_create_hero_snapshots.up.sql", "\xEF\xBB\xBF" + crlf);
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(r.err.find("only in line endings") != std::string::npos);
}

TEST_CASE("two apply processes at once apply every migration exactly once", "[cli][concurrency]") {
  TempDir dir;
  TempDatabase db;
  const auto chain = rbtest::copy_sample_chain(dir);
  const auto n = static_cast<long long>(rbtest::files_in(chain, ".up.sql").size());
  // A slow first migration keeps the lock held while the second runner arrives.
  dir.write("migrations/0000_slow_start.up.sql", "SELECT pg_sleep(1);\n");
  CliResult a, b;
  std::thread ta([&] { a = apply(dir, db, {"--yes"}); });
  std::thread tb([&] { b = apply(dir, db, {"--yes"}); });
  ta.join();
  tb.join();
  INFO(a.all() + "\n-----\n" + b.all());
  CHECK(a.code == 0);
  CHECK(b.code == 0);
  CHECK(db.count(kSampleCount) == n + 1);
  CHECK(db.count("SELECT count(DISTINCT run_id) FROM schema_migrations") == 1);  // one runner did it all
  CHECK(db.count("SELECT count(*) FROM pg_indexes WHERE indexname = 'hero_snapshots_pending_idx'") == 1);
}

TEST_CASE("a waiting runner says who holds the lock and gives up after lock_wait", "[cli][lock]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  rb::db::ConnectOptions holder_options;
  holder_options.conninfo = "dbname=" + db.name();
  holder_options.application_name = "nightly-batch-job";
  rb::db::Connection holder(holder_options);
  auto probe = apply(dir, db, {"--yes", "--set", "target=0001"});
  REQUIRE(probe.code == 0);
  // The ledger's lock key: the first 8 bytes of SHA-256("runbook ledger <schema.table>").
  auto got = holder.query(
      "SELECT pg_try_advisory_lock(('x' || substr(encode(sha256('runbook ledger public.schema_migrations'::bytea),"
      " 'hex'), 1, 16))::bit(64)::bigint)");
  REQUIRE(got.rows[0][0].boolean);
  auto r = apply(dir, db, {"--yes", "--set", "lock_wait=2s"});
  INFO(r.all());
  CHECK(r.code == 3);
  CHECK(r.err.find("nightly-batch-job") != std::string::npos);
  CHECK(db.count(kSampleCount) == 1);
}

TEST_CASE("a failing migration names the file and statement; earlier ones stay committed", "[cli][failure]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/0001_a.up.sql", "CREATE TABLE a (id int);\n");
  dir.write("migrations/0002_b.up.sql", "CREATE TABLE b (id int);\n\nINSERT INTO b VALUES (1);\nINSERT INTO missing_table VALUES (1);\n");
  dir.write("migrations/0003_c.up.sql", "CREATE TABLE c (id int);\n");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(r.err.find("0002_b.up.sql") != std::string::npos);
  CHECK(r.err.find("statement 3 of 3 (line 4, column 13)") != std::string::npos);  // the server's error position
  CHECK(r.err.find("SQLSTATE 42P01") != std::string::npos);
  CHECK(r.err.find("missing_table") != std::string::npos);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename = '0001_a.up.sql'") == 1);
  CHECK(db.count("SELECT to_regclass('public.a') IS NOT NULL") == 1);
  CHECK(db.count("SELECT to_regclass('public.b') IS NULL") == 1);
  CHECK(db.count("SELECT to_regclass('public.c') IS NULL") == 1);
}

TEST_CASE("a syntax error in a migration names the file and line before anything runs", "[cli][failure]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/0001_a.up.sql", "CREATE TABLE a (id int);\n");
  dir.write("migrations/0002_b.up.sql", "-- header\nCREATE TABLE b (id int);\nCREAT TABLE oops (id int);\n");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  CHECK(r.code == 2);
  CHECK(r.err.find("0002_b.up.sql:3") != std::string::npos);
}

TEST_CASE("a Lua syntax error in a runbook names the file and line", "[cli][lua]") {
  TempDir dir;
  dir.write("broken.lua", "local runbook = require \"runbook\"\n\nreturn runbook.define {\n  name = 'x'\n  steps = {},\n}\n");
  auto r = run_cli({"broken.lua"}, {}, dir.path());
  INFO(r.all());
  CHECK(r.code == 2);
  CHECK(r.err.find("broken.lua:5:") != std::string::npos);
}

TEST_CASE("a Lua runtime error in a step names the file and line with a traceback", "[cli][lua]") {
  TempDir dir;
  dir.write("boom.lua",
            "local runbook = require \"runbook\"\n"
            "return runbook.define {\n"
            "  steps = {\n"
            "    runbook.step('first', 'fine', function(ctx) end),\n"
            "    runbook.step('second', 'breaks', function(ctx)\n"
            "      local t = nil\n"
            "      return t.field\n"
            "    end),\n"
            "  },\n"
            "}\n");
  auto r = run_cli({"boom.lua", "--journal", dir.path() + "/j"}, {}, dir.path());
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(r.err.find("boom.lua:7:") != std::string::npos);
  CHECK(r.err.find("step second") != std::string::npos);
  CHECK(r.err.find("traceback") != std::string::npos);
}

TEST_CASE("runbooks cannot bypass the primitives", "[cli][sandbox]") {
  TempDir dir;
  dir.write("escape.lua",
            "local runbook = require \"runbook\"\n"
            "return runbook.define { steps = { runbook.step('x', function(ctx)\n"
            "  os.execute('touch " + dir.path() + "/pwned')\n"
            "end) } }\n");
  dir.write("escape2.lua",
            "local runbook = require \"runbook\"\n"
            "return runbook.define { steps = { runbook.step('x', function(ctx)\n"
            "  local ffi = require 'ffi'\n"
            "end) } }\n");
  auto r = run_cli({"escape.lua", "--journal", dir.path() + "/j"}, {}, dir.path());
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(r.err.find("os.execute is not available") != std::string::npos);
  CHECK_FALSE(rbtest::read_file(dir.path() + "/pwned").size() > 0);
  auto r2 = run_cli({"escape2.lua", "--journal", dir.path() + "/j"}, {}, dir.path());
  INFO(r2.all());
  CHECK(r2.code == 1);
  CHECK(r2.err.find("module 'ffi' not found") != std::string::npos);
}

TEST_CASE("apply-prod without a terminal and without --confirm aborts before any change", "[cli][confirm]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  const auto before = db.schema_dump();

  // The checklist answered, as CI does: the token is what is missing.
  auto r = apply(dir, db, {"--checklist", rbtest::prod_checklist()}, "apply-prod.lua");
  INFO(r.all());
  CHECK(r.code == 3);
  CHECK(r.err.find("PROD-OK") != std::string::npos);
  CHECK(db.schema_dump() == before);

  auto yes = apply(dir, db, {"--yes", "--checklist", rbtest::prod_checklist()}, "apply-prod.lua");  // --yes never answers a typed token
  INFO(yes.all());
  CHECK(yes.code == 3);
  CHECK(db.schema_dump() == before);

  auto wrong = apply(dir, db, {"--confirm", "prod-ok"}, "apply-prod.lua");
  INFO(wrong.all());
  CHECK(wrong.code == 3);
  CHECK(db.schema_dump() == before);

  auto ok = apply(dir, db, {"--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, "apply-prod.lua");
  INFO(ok.all());
  CHECK(ok.code == 0);
  CHECK(db.count("SELECT to_regclass('public.hero_snapshots') IS NOT NULL") == 1);
}

TEST_CASE("apply without --yes and without a terminal aborts (yes/no question)", "[cli][confirm]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  auto r = apply(dir, db);
  INFO(r.all());
  CHECK(r.code == 3);
  CHECK(db.count("SELECT to_regclass('public.hero_snapshots') IS NULL") == 1);
}

TEST_CASE("the run record is written as JSON and Markdown, with secrets redacted", "[cli][journal]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  // trust authentication ignores the password, so a URL with one still connects.
  std::string url = db.url();
  url.replace(url.find(":///"), 4, "://postgres:S3cretPassw0rd@/");
  auto r = run_cli({"apply.lua", "--yes", "--json", "--journal", dir.path() + "/journal"}, {{"DATABASE_URL", url}},
                   dir.path());
  INFO(r.all());
  REQUIRE(r.code == 0);
  auto json_files = rbtest::files_in(dir.path() + "/journal", ".json");
  auto md_files = rbtest::files_in(dir.path() + "/journal", ".md");
  REQUIRE(json_files.size() == 1);
  REQUIRE(md_files.size() == 1);
  const auto text = rbtest::read_file(json_files[0]);
  CHECK(text.find("S3cretPassw0rd") == std::string::npos);
  CHECK(rbtest::read_file(md_files[0]).find("S3cretPassw0rd") == std::string::npos);
  CHECK(r.all().find("S3cretPassw0rd") == std::string::npos);
  auto rec = nlohmann::json::parse(text);
  CHECK(rec["runbook"] == "apply");
  CHECK(rec["status"] == "succeeded");
  CHECK(rec["mode"] == "live");
  CHECK(rec["exit_code"] == 0);
  CHECK_FALSE(rec["operator"].get<std::string>().empty());
  CHECK_FALSE(rec["host"].get<std::string>().empty());
  CHECK(rec["steps"].size() == 11);  // every step of apply.lua, see --describe
  for (const auto& s : rec["steps"]) {
    CHECK(s["status"] == "ok");
    CHECK(s.contains("duration_ms"));
  }
  CHECK(rec["migrations"].size() == static_cast<std::size_t>(db.count(kSampleCount)));
  CHECK(rec["migrations"][0]["sha256"].get<std::string>().size() == 64);
  // --json prints the same record on stdout.
  CHECK(rbtest::record_of(r.out)["run_id"] == rec["run_id"]);
}

TEST_CASE("bad parameters are configuration errors naming the value", "[cli][params]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  auto bad = apply(dir, db, {"--set", "lock_timeout=soon"});
  INFO(bad.all());
  CHECK(bad.code == 2);
  CHECK(bad.err.find("lock_timeout") != std::string::npos);
  CHECK(bad.err.find("soon") != std::string::npos);
  auto unknown = apply(dir, db, {"--set", "lock_timout=5s"});
  INFO(unknown.all());
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("lock_timout") != std::string::npos);
  auto missing_dir = apply(dir, db, {"--yes", "--set", "migrations=nope"});
  INFO(missing_dir.all());
  CHECK(missing_dir.code == 2);
  CHECK(missing_dir.err.find("nope") != std::string::npos);
  auto no_runbook = run_cli({"no-such-runbook.lua"}, {}, dir.path());
  CHECK(no_runbook.code == 2);
  CHECK(no_runbook.err.find("searched") != std::string::npos);
}

TEST_CASE("--only, --from and --skip cannot bypass apply-prod's gates", "[cli][confirm][gates]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  const auto before = db.schema_dump();

  auto only = apply(dir, db, {"--only", "apply", "--checklist", rbtest::prod_checklist()}, "apply-prod.lua");
  INFO(only.all());
  CHECK(only.code == 3);  // the confirm gate ran and, with no terminal and no token, stopped the run
  CHECK(only.err.find("PROD-OK") != std::string::npos);
  CHECK(db.schema_dump() == before);

  auto from = apply(dir, db, {"--from", "apply"}, "apply-prod.lua");
  INFO(from.all());
  CHECK(from.code == 3);
  CHECK(db.schema_dump() == before);

  auto skip = apply(dir, db, {"--skip", "confirm", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, "apply-prod.lua");
  INFO(skip.all());
  CHECK(skip.code == 2);
  CHECK(skip.err.find("gate") != std::string::npos);
  CHECK(db.schema_dump() == before);

  // With the token, --only apply runs the gates (connect, parity, confirm, backup) and apply.
  auto ok = apply(dir, db, {"--only", "apply", "--confirm", "PROD-OK", "--checklist", rbtest::prod_checklist()}, "apply-prod.lua");
  INFO(ok.all());
  CHECK(ok.code == 0);
  CHECK(db.count("SELECT to_regclass('public.hero_snapshots') IS NOT NULL") == 1);
  CHECK(rbtest::listing(dir.path() + "/.runbook/backups").size() == 1);  // the backup gate ran too
  CHECK(ok.err.find("[3/11] review") == std::string::npos);             // a non-gate step was left out
}

TEST_CASE("golang-migrate's own schema_migrations is refused, named, and never altered", "[cli][ledger]") {
  TempDir dir;
  TempDatabase db;
  db.connect().run_script("CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);"
          "INSERT INTO schema_migrations VALUES (3, false)");
  dir.write("migrations/1_a.up.sql", "CREATE TABLE a (id int);\n");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  CHECK(r.code != 0);
  CHECK(r.err.find("golang-migrate") != std::string::npos);
  CHECK(r.err.find("--set ledger=") != std::string::npos);
  CHECK(r.err.find("l.filename") == std::string::npos);
  CHECK(db.count("SELECT count(*) FROM pg_attribute WHERE attrelid = 'schema_migrations'::regclass AND attnum > 0") == 2);
  CHECK(db.count("SELECT to_regclass('public.a') IS NULL") == 1);
  // With another ledger name the chain applies and the tool's table stays as it was.
  auto ok = apply(dir, db, {"--yes", "--set", "ledger=public.runbook_ledger"});
  INFO(ok.all());
  CHECK(ok.code == 0);
  CHECK(db.count("SELECT count(*) FROM runbook_ledger") == 1);
  CHECK(db.count("SELECT version FROM schema_migrations") == 3);
}

TEST_CASE("a statement ending in a -- comment before its ';' applies as psql applies it", "[cli][fidelity]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/0001_a.sql",
            "CREATE TABLE a (id int) -- the table\n;\nCREATE INDEX a_id ON a (id) -- its index\n;\n"
            "INSERT INTO a VALUES (1) -- last, no final newline");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  CHECK(r.code == 0);
  CHECK(db.count("SELECT count(*) FROM a") == 1);
  CHECK(db.count("SELECT count(*) FROM pg_indexes WHERE indexname = 'a_id'") == 1);
}

TEST_CASE("an own-transaction file failing in its second transaction is recorded dirty and blocks re-runs",
          "[cli][own-transaction]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/0001_two.sql",
            "BEGIN;\nCREATE TABLE first_tx (id int);\nCOMMIT;\n\nBEGIN;\nCREATE TABLE second_tx (id int);\n"
            "INSERT INTO nowhere VALUES (1);\nCOMMIT;\n");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(r.err.find("statement 6 of 7 (line 7)") != std::string::npos);
  CHECK(r.err.find("42P01") != std::string::npos);
  CHECK(r.err.find("statements 1-3 were committed") != std::string::npos);
  CHECK(db.count("SELECT to_regclass('public.first_tx') IS NOT NULL") == 1);
  CHECK(db.count("SELECT to_regclass('public.second_tx') IS NULL") == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE status = 'dirty' AND statements_done = 3"
                 " AND failed_statement = 6") == 1);
  auto again = apply(dir, db, {"--yes"});
  INFO(again.all());
  CHECK(again.code != 0);
  CHECK(again.all().find("dirty") != std::string::npos);
  CHECK(db.count("SELECT to_regclass('public.second_tx') IS NULL") == 1);
}

TEST_CASE("a Flyway chain applies in Flyway's order; a changed R__ repeatable runs again, not drift",
          "[cli][layout]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/V1__t.sql", "CREATE TABLE t (id int);\n");
  dir.write("migrations/V1_1__x.sql", "ALTER TABLE t ADD COLUMN x int;\n");
  dir.write("migrations/V1.10__y.sql", "ALTER TABLE t ADD COLUMN y int;\n");  // after 1.1: needs x first
  dir.write("migrations/V1.2__idx.sql", "CREATE INDEX t_x ON t (x);\n");
  dir.write("migrations/R__view.sql", "CREATE OR REPLACE VIEW v AS SELECT 1 AS version;\n");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(r.all().find("flyway layout") != std::string::npos);
  CHECK(psql(db, "SELECT string_agg(filename, ',' ORDER BY applied_at, filename) FROM schema_migrations") != "");
  CHECK(db.count("SELECT version FROM v") == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 5);
  // Unchanged: nothing to do.
  auto noop = apply(dir, db, {"--yes"});
  INFO(noop.all());
  CHECK(noop.code == 0);
  CHECK(noop.all().find("R__view.sql") == std::string::npos);
  // Edited: the repeatable runs again and the ledger takes its new hash.
  dir.write("migrations/R__view.sql", "CREATE OR REPLACE VIEW v AS SELECT 2 AS version;\n");
  auto again = apply(dir, db, {"--yes"});
  INFO(again.all());
  CHECK(again.code == 0);
  CHECK(db.count("SELECT version FROM v") == 2);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 5);
  CHECK(psql(db, "SELECT sha256 FROM schema_migrations WHERE filename = 'R__view.sql'") ==
        rbtest::sha256sum(dir.path() + "/migrations/R__view.sql") + "\n");
}

TEST_CASE("a goose chain applies its Up sections only; NO TRANSACTION runs CONCURRENTLY", "[cli][layout]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/00001_t.sql", "-- +goose Up\nCREATE TABLE t (id int);\n\n-- +goose Down\nDROP TABLE t;\n");
  dir.write("migrations/00002_idx.sql",
            "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n"
            "-- +goose Down\nDROP INDEX CONCURRENTLY t_id;\n");
  dir.write("migrations/00010_f.sql",
            "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
            "BEGIN\n  RETURN 1;\nEND;\n$$;\n-- +goose StatementEnd\n-- +goose Down\nDROP FUNCTION f();\n");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(r.all().find("goose layout") != std::string::npos);
  CHECK(db.count("SELECT to_regclass('public.t') IS NOT NULL") == 1);
  CHECK(db.count("SELECT count(*) FROM pg_indexes WHERE indexname = 't_id'") == 1);
  CHECK(db.count("SELECT f()") == 1);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 3);
}

TEST_CASE("a node-pg-migrate SQL chain applies its Up Migration sections", "[cli][layout]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/1700000000000_create-t.sql",
            "-- Up Migration\nCREATE TABLE t (id int);\n\n-- Down Migration\nDROP TABLE t;\n");
  dir.write("migrations/1700000000001_add-x.sql", "-- Up Migration\nALTER TABLE t ADD COLUMN x int;\n-- Down Migration\n");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(r.all().find("node-pg-migrate layout") != std::string::npos);
  CHECK(db.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'x'") == 1);
}

TEST_CASE("a versioned-directories chain applies across majors in numeric order", "[cli][layout]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/1/1_t.up.sql", "CREATE TABLE t (id int);\n");
  dir.write("migrations/1/1_t.down.sql", "DROP TABLE t;\n");
  dir.write("migrations/2/9_x.up.sql", "ALTER TABLE t ADD COLUMN x int;\n");
  dir.write("migrations/2/10_idx.up.sql", "CREATE INDEX t_x ON t (x);\n");  // after 2/9: needs x
  dir.write("migrations/10/1_y.up.sql", "ALTER TABLE t ADD COLUMN y int;\n");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(db.count("SELECT count(*) FROM schema_migrations WHERE filename IN ('1/1_t.up.sql', '2/10_idx.up.sql', "
                 "'10/1_y.up.sql')") == 3);
}

TEST_CASE("a psql meta-command is refused naming file and line before anything runs", "[cli][fidelity]") {
  TempDir dir;
  TempDatabase db;
  dir.write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
  dir.write("migrations/0002_b.sql", "CREATE TABLE b (id int);\n\\i other.sql\n");
  auto r = apply(dir, db, {"--yes"});
  INFO(r.all());
  CHECK(r.code != 0);
  CHECK(r.err.find("0002_b.sql:2: psql meta-command \\i is not SQL") != std::string::npos);
  CHECK(db.count("SELECT to_regclass('public.a') IS NULL") == 1);  // not even the first file ran
}
