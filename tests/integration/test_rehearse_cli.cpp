// --rehearse: pending migrations run for real inside one transaction that is rolled back.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace {
rbtest::CliResult run(const rbtest::TempDir& dir, const rbtest::TempDatabase& db, std::vector<std::string> args) {
  const std::string runbook = args.front();
  args.erase(args.begin());
  return rbtest::run_runbook(dir, db, runbook, args);
}
}  // namespace

TEST_CASE("--rehearse on the target (rehearse_on=target) runs and times pending migrations, then leaves nothing behind", "[cli][rehearse]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  rbtest::copy_sample_chain(dir);
  REQUIRE(run(dir, db, {"apply.lua", "--yes", "--set", "target=0003"}).code == 0);
  const auto schema = db.schema_dump();
  const auto ledger = db.count("SELECT count(*) FROM schema_migrations");
  const auto backups = rbtest::listing(dir.path() + "/.runbook/backups");

  auto r = run(dir, db, {"apply.lua", "--rehearse", "--set", "rehearse_on=target", "--yes"});
  INFO(r.all());
  REQUIRE(r.code == 0);
  CHECK(r.err.find("0004_create_etl_errors.up.sql rehearsed in") != std::string::npos);
  CHECK(r.err.find("0011_create_hero_snapshots_pending_idx.up.sql not rehearsed (cannot run inside a transaction)") !=
        std::string::npos);
  CHECK(r.err.find("were rolled back") != std::string::npos);
  CHECK(db.schema_dump() == schema);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == ledger);
  CHECK(rbtest::listing(dir.path() + "/.runbook/backups") == backups);  // a rehearsal takes no backup
  auto records = rbtest::files_in(dir.path() + "/journal", ".json");
  nlohmann::json rec;
  for (const auto& f : records) {
    auto j = nlohmann::json::parse(rbtest::read_file(f));
    if (j["mode"] == "rehearse") rec = j;
  }
  REQUIRE_FALSE(rec.is_null());
  CHECK(rec["status"] == "succeeded");
  CHECK(rec["migrations"][0]["status"] == "rehearsed");
}

TEST_CASE("--rehearse on the target catches what only the real schema reveals; dry-run cannot", "[cli][rehearse]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  dir.write("migrations/0001_a.up.sql", "CREATE TABLE a (id int);\n");
  REQUIRE(run(dir, db, {"apply.lua", "--yes"}).code == 0);
  // Parses fine, fails against the schema: column b does not exist.
  dir.write("migrations/0002_b.up.sql", "ALTER TABLE a ADD COLUMN c int;\nCREATE INDEX a_b_idx ON a (b);\n");
  const auto schema = db.schema_dump();

  auto dry = run(dir, db, {"apply.lua", "--dry-run"});
  INFO(dry.all());
  CHECK(dry.code == 0);

  auto r = run(dir, db, {"apply.lua", "--rehearse", "--set", "rehearse_on=target", "--yes"});
  INFO(r.all());
  CHECK(r.code == 1);
  CHECK(r.err.find("rehearsal of migration 0002_b.up.sql failed at statement 2 of 2 (line 2)") != std::string::npos);
  CHECK(r.err.find("Nothing was changed") != std::string::npos);
  CHECK(db.schema_dump() == schema);
  CHECK(db.count("SELECT count(*) FROM schema_migrations") == 1);
}

TEST_CASE("--rehearse of apply-prod still needs the typed token: it takes real locks", "[cli][rehearse]") {
  rbtest::TempDir dir;
  rbtest::TempDatabase db;
  rbtest::copy_sample_chain(dir);
  auto r = run(dir, db, {"apply-prod.lua", "--rehearse"});
  INFO(r.all());
  CHECK(r.code == 3);
  CHECK(r.err.find("PROD-OK") != std::string::npos);
  auto both = run(dir, db, {"apply.lua", "--rehearse", "--dry-run"});
  CHECK(both.code == 2);
}

TEST_CASE("--rehearse leaves sequences as they were: advanced, never called, and failed rehearsals",
          "[cli][rehearse][sequences]") {
  const std::string values =
      "SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'null'), ',' ORDER BY sequencename) "
      "FROM pg_sequences";
  for (const bool fails : {false, true}) {
    DYNAMIC_SECTION((fails ? "a rehearsal that fails" : "a rehearsal that succeeds")) {
      rbtest::TempDir dir;
      rbtest::TempDatabase db;
      dir.write("migrations/0001_tables.sql",
                "CREATE TABLE heroes (id bigserial PRIMARY KEY, name text);\n"
                "INSERT INTO heroes (name) SELECT 'h' || g FROM generate_series(1, 5) g;\n"
                "CREATE TABLE villains (id serial PRIMARY KEY, name text);\n");
      dir.write("migrations/0002_seed.sql",
                "INSERT INTO heroes (name) SELECT 'seed' || g FROM generate_series(1, 1000) g;\n"
                "INSERT INTO villains (name) SELECT 'v' || g FROM generate_series(1, 10) g;\n"
                "CREATE SEQUENCE new_in_rehearsal;\nSELECT nextval('new_in_rehearsal');\n" +
                    std::string(fails ? "SELECT 1/0;\n" : ""));
      REQUIRE(run(dir, db, {"apply.lua", "--yes", "--set", "target=0001"}).code == 0);
      const auto before = rbtest::psql(db, values);
      REQUIRE(before == "heroes_id_seq=5,villains_id_seq=null\n");
      auto r = run(dir, db, {"apply.lua", "--rehearse", "--set", "rehearse_on=target", "--yes"});
      INFO(r.all());
      CHECK(r.code == (fails ? 1 : 0));
      CHECK(rbtest::psql(db, values) == before);
      CHECK(r.err.find("2 sequence(s) the rehearsal advanced were put back") != std::string::npos);
      // The next real insert takes the next value as if no rehearsal had happened.
      CHECK(rbtest::psql(db, "WITH i AS (INSERT INTO heroes (name) VALUES ('next') RETURNING id) SELECT id FROM i") == "6\n");
      CHECK(rbtest::psql(db, "WITH i AS (INSERT INTO villains (name) VALUES ('first') RETURNING id) SELECT id FROM i") == "1\n");
    }
  }
}
