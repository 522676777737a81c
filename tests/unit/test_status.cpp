// Status and parity of a chain against ledger rows, computed in memory.
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/chain.hpp"
#include "engine/ledger.hpp"
#include "engine/status.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using rb::migrations::Chain;
using rb::migrations::compute_status;
using rb::migrations::differs_only_in_line_endings;
using rb::migrations::LedgerRow;
using rb::migrations::load_chain;
using rb::migrations::Migration;
using rb::migrations::Status;

namespace {

// SHA-256 straight from OpenSSL, independent of engine/hash.
std::string sha(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 0xf]);
  }
  return out;
}

Migration mig(const std::string& version, const std::string& name, const std::string& sql) {
  Migration m;
  m.version = version;
  m.name = name;
  m.up_path = "/migrations/" + name;
  m.up_sql = sql;
  m.sha256 = sha(sql);
  return m;
}

// Three migrations, handmade.
Chain three() {
  Chain c;
  c.directory = "/migrations";
  c.migrations.push_back(mig("0001", "0001_users.sql", "CREATE TABLE users (id int);\n"));
  c.migrations.push_back(mig("0002", "0002_orders.sql", "CREATE TABLE orders (id int);\n"));
  c.migrations.push_back(mig("0003", "0003_index.sql", "CREATE INDEX orders_id ON orders (id);\n"));
  return c;
}

LedgerRow row(const Migration& m) {
  LedgerRow r;
  r.filename = m.name;
  r.version = m.version;
  r.sha256 = m.sha256;
  r.applied_at = "2024-01-01T00:00:00Z";
  r.applied_by = "tester";
  r.run_id = "run-1";
  return r;
}

std::vector<std::string> names(const std::vector<const Migration*>& v) {
  std::vector<std::string> out;
  for (const auto* m : v) out.push_back(m->name);
  return out;
}

bool any_line_names(const std::vector<std::string>& lines, const std::string& what) {
  for (const auto& l : lines)
    if (l.find(what) != std::string::npos) return true;
  return false;
}

using rbtest::TempDir;

const std::string kBom = "\xEF\xBB\xBF";

}  // namespace

TEST_CASE("status: an empty ledger leaves everything pending and parity passes", "[status]") {
  const Chain c = three();
  const Status st = compute_status(c, {});
  CHECK(st.applied.empty());
  CHECK(names(st.pending) == std::vector<std::string>{"0001_users.sql", "0002_orders.sql", "0003_index.sql"});
  CHECK(st.missing_in_db.empty());
  CHECK(st.extra_in_db.empty());
  CHECK(st.parity_pass());
  CHECK_FALSE(st.up_to_date());
  CHECK(st.drift_messages().empty());
}

TEST_CASE("status: fully applied chain is up to date", "[status]") {
  const Chain c = three();
  const Status st = compute_status(c, {row(c.migrations[0]), row(c.migrations[1]), row(c.migrations[2])});
  CHECK(names(st.applied) == std::vector<std::string>{"0001_users.sql", "0002_orders.sql", "0003_index.sql"});
  CHECK(st.pending.empty());
  CHECK(st.missing_in_db.empty());
  CHECK(st.extra_in_db.empty());
  CHECK(st.hash_mismatches.empty());
  CHECK(st.line_ending_only.empty());
  CHECK(st.dirty.empty());
  CHECK(st.parity_pass());
  CHECK(st.up_to_date());
  CHECK(st.drift_messages().empty());
  // The pointers point into the chain itself.
  CHECK(st.applied[1] == &c.migrations[1]);
}

TEST_CASE("status: newer unapplied migrations are pending, not drift", "[status]") {
  const Chain c = three();
  const Status st = compute_status(c, {row(c.migrations[0]), row(c.migrations[1])});
  CHECK(names(st.applied) == std::vector<std::string>{"0001_users.sql", "0002_orders.sql"});
  CHECK(names(st.pending) == std::vector<std::string>{"0003_index.sql"});
  CHECK(st.missing_in_db.empty());
  CHECK(st.parity_pass());
  CHECK_FALSE(st.up_to_date());
}

TEST_CASE("status: an unapplied migration older than an applied one is a gap", "[status]") {
  const Chain c = three();
  const Status st = compute_status(c, {row(c.migrations[0]), row(c.migrations[2])});
  CHECK(names(st.missing_in_db) == std::vector<std::string>{"0002_orders.sql"});
  CHECK(st.pending.empty());
  CHECK(names(st.applied) == std::vector<std::string>{"0001_users.sql", "0003_index.sql"});
  CHECK_FALSE(st.parity_pass());
  CHECK_FALSE(st.up_to_date());
  const auto msgs = st.drift_messages();
  CHECK(any_line_names(msgs, "0002_orders.sql"));
  CHECK_FALSE(any_line_names(msgs, "0001_users.sql"));
}

TEST_CASE("status: a ledger row without a file is extra in the database", "[status]") {
  const Chain c = three();
  LedgerRow ghost;
  ghost.filename = "0000_removed_from_repo.sql";
  ghost.version = "0000";
  ghost.sha256 = sha("whatever");
  const Status st = compute_status(c, {ghost, row(c.migrations[0])});
  REQUIRE(st.extra_in_db.size() == 1);
  CHECK(st.extra_in_db[0].filename == "0000_removed_from_repo.sql");
  CHECK(names(st.applied) == std::vector<std::string>{"0001_users.sql"});
  CHECK(names(st.pending) == std::vector<std::string>{"0002_orders.sql", "0003_index.sql"});
  CHECK_FALSE(st.parity_pass());
  CHECK(any_line_names(st.drift_messages(), "0000_removed_from_repo.sql"));
}

TEST_CASE("status: a file edited after it was applied is a hash mismatch", "[status]") {
  const Chain c = three();
  LedgerRow r2 = row(c.migrations[1]);
  r2.sha256 = sha("CREATE TABLE orders (id bigint);\n");  // what was applied back then
  const Status st = compute_status(c, {row(c.migrations[0]), r2, row(c.migrations[2])});
  REQUIRE(st.hash_mismatches.size() == 1);
  CHECK(st.hash_mismatches[0].filename == "0002_orders.sql");
  CHECK(st.hash_mismatches[0].ledger_sha256 == r2.sha256);
  CHECK(st.hash_mismatches[0].file_sha256 == c.migrations[1].sha256);
  CHECK_FALSE(st.hash_mismatches[0].line_endings_only);
  CHECK(st.line_ending_only.empty());
  CHECK_FALSE(st.parity_pass());
  CHECK_FALSE(st.up_to_date());
  const auto msgs = st.drift_messages();
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].find("0002_orders.sql") != std::string::npos);
  CHECK(msgs[0].find(r2.sha256.substr(0, 12)) != std::string::npos);
}

TEST_CASE("status: a failed non-transactional migration is dirty", "[status]") {
  const Chain c = three();
  LedgerRow d = row(c.migrations[2]);
  d.status = "dirty";
  d.statements_done = 1;
  d.failed_statement = 2;
  d.error = "could not create unique index \"orders_id\"";
  const Status st = compute_status(c, {row(c.migrations[0]), row(c.migrations[1]), d});
  REQUIRE(st.dirty.size() == 1);
  CHECK(st.dirty[0].filename == "0003_index.sql");
  CHECK(names(st.applied) == std::vector<std::string>{"0001_users.sql", "0002_orders.sql"});
  CHECK(st.pending.empty());
  CHECK_FALSE(st.parity_pass());
  const auto msgs = st.drift_messages();
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].find("0003_index.sql") != std::string::npos);
  CHECK(msgs[0].find("dirty") != std::string::npos);
  CHECK(msgs[0].find("statement 2") != std::string::npos);
  CHECK(msgs[0].find("could not create unique index") != std::string::npos);
  CHECK(msgs[0].find("resolve") != std::string::npos);
}

TEST_CASE("status: several problems at once each get a message", "[status]") {
  const Chain c = three();
  LedgerRow edited = row(c.migrations[2]);
  edited.sha256 = sha("something else");
  LedgerRow ghost;
  ghost.filename = "0004_ghost.sql";
  ghost.sha256 = sha("ghost");
  const Status st = compute_status(c, {row(c.migrations[0]), edited, ghost});
  CHECK(names(st.missing_in_db) == std::vector<std::string>{"0002_orders.sql"});
  CHECK(st.extra_in_db.size() == 1);
  CHECK(st.hash_mismatches.size() == 1);
  const auto msgs = st.drift_messages();
  CHECK(msgs.size() == 3);
  CHECK(any_line_names(msgs, "0002_orders.sql"));
  CHECK(any_line_names(msgs, "0003_index.sql"));
  CHECK(any_line_names(msgs, "0004_ghost.sql"));
}

TEST_CASE("status: line-ending and BOM differences are not edits", "[status]") {
  const std::string lf = "CREATE TABLE users (\n  id int\n);\nINSERT INTO users VALUES (1);\n";
  std::string crlf;
  for (char ch : lf) {
    if (ch == '\n') crlf.push_back('\r');
    crlf.push_back(ch);
  }
  REQUIRE(crlf != lf);

  struct Case {
    const char* what;
    std::string file;    // bytes on disk now
    std::string ledger;  // bytes that were hashed when applied
  };
  const std::vector<Case> cases = {
      {"CRLF file, LF ledger", crlf, lf},
      {"BOM+LF file, LF ledger", kBom + lf, lf},
      {"BOM+CRLF file, LF ledger", kBom + crlf, lf},
      {"LF file, CRLF ledger", lf, crlf},
      {"LF file, BOM+LF ledger", lf, kBom + lf},
      {"LF file, BOM+CRLF ledger", lf, kBom + crlf},
  };
  for (const auto& k : cases) {
    INFO(k.what);
    TempDir d;
    d.write("0001_users.sql", k.file);
    const Chain c = load_chain(d.dir().string());
    REQUIRE(c.migrations.size() == 1);
    REQUIRE(c.migrations[0].sha256 != sha(k.ledger));  // the bytes really differ
    LedgerRow r = row(c.migrations[0]);
    r.sha256 = sha(k.ledger);
    const Status st = compute_status(c, {r});
    CHECK(st.hash_mismatches.empty());
    REQUIRE(st.line_ending_only.size() == 1);
    CHECK(st.line_ending_only[0].filename == "0001_users.sql");
    CHECK(st.line_ending_only[0].line_endings_only);
    CHECK(st.line_ending_only[0].ledger_sha256 == sha(k.ledger));
    CHECK(st.parity_pass());
    CHECK(st.up_to_date());
    CHECK(st.drift_messages().empty());
    CHECK(differs_only_in_line_endings(k.file, sha(k.ledger)));
  }
}

TEST_CASE("status: a real edit with different line endings is still a mismatch", "[status]") {
  const std::string applied_lf = "CREATE TABLE users (id int);\n";
  const std::string edited_crlf = "CREATE TABLE users (id bigint);\r\n";
  TempDir d;
  d.write("0001_users.sql", edited_crlf);
  const Chain c = load_chain(d.dir().string());
  LedgerRow r = row(c.migrations.at(0));
  r.sha256 = sha(applied_lf);
  const Status st = compute_status(c, {r});
  CHECK(st.line_ending_only.empty());
  REQUIRE(st.hash_mismatches.size() == 1);
  CHECK_FALSE(st.hash_mismatches[0].line_endings_only);
  CHECK_FALSE(st.parity_pass());
  CHECK(any_line_names(st.drift_messages(), "0001_users.sql"));

  CHECK_FALSE(differs_only_in_line_endings(edited_crlf, sha(applied_lf)));
  // Adding a line is an edit too, even when only whitespace-looking.
  CHECK_FALSE(differs_only_in_line_endings(applied_lf + "\n", sha(applied_lf)));
  CHECK_FALSE(differs_only_in_line_endings(applied_lf, sha(applied_lf + " ")));
}

TEST_CASE("status: a dbmate file converted to CRLF is a line-ending difference, not an edit", "[status]") {
  // dbmate hashes the whole file; converting the whole file's line endings is not an edit.
  const std::string lf = "-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down\nDROP TABLE a;\n";
  std::string crlf;
  for (char ch : lf) {
    if (ch == '\n') crlf.push_back('\r');
    crlf.push_back(ch);
  }
  TempDir d;
  d.write("20240101000000_a.sql", crlf);
  const Chain c = load_chain(d.dir().string());
  REQUIRE(c.layout == "dbmate");
  LedgerRow r = row(c.migrations.at(0));
  r.sha256 = sha(lf);  // applied when the file still had LF endings
  const Status st = compute_status(c, {r});
  CHECK(st.hash_mismatches.empty());
  CHECK(st.line_ending_only.size() == 1);
  CHECK(st.parity_pass());
}

TEST_CASE("status: a Flyway repeatable is pending until applied and again when it changes, never drift", "[status]") {
  Chain c = three();
  Migration r = mig("R", "R__views.sql", "CREATE OR REPLACE VIEW v AS SELECT 1;\n");
  r.repeatable = true;
  c.migrations.push_back(r);
  const LedgerRow a = row(c.migrations[0]);
  SECTION("never applied: pending, and not a gap although it is after nothing applied") {
    const Status st = compute_status(c, {a});
    CHECK(names(st.pending) == std::vector<std::string>{"0002_orders.sql", "0003_index.sql", "R__views.sql"});
    CHECK(st.parity_pass());
  }
  SECTION("applied and unchanged: applied") {
    const Status st = compute_status(c, {a, row(c.migrations[1]), row(c.migrations[2]), row(c.migrations[3])});
    CHECK(st.up_to_date());
  }
  SECTION("applied, then edited: pending again, no hash mismatch") {
    LedgerRow old = row(c.migrations[3]);
    old.sha256 = sha("CREATE OR REPLACE VIEW v AS SELECT 0;\n");
    const Status st = compute_status(c, {a, row(c.migrations[1]), row(c.migrations[2]), old});
    CHECK(names(st.pending) == std::vector<std::string>{"R__views.sql"});
    CHECK(st.hash_mismatches.empty());
    CHECK(st.parity_pass());
  }
  SECTION("an edited versioned migration is still drift") {
    LedgerRow edited = row(c.migrations[1]);
    edited.sha256 = sha("something else");
    const Status st = compute_status(c, {a, edited, row(c.migrations[2]), row(c.migrations[3])});
    CHECK(st.hash_mismatches.size() == 1);
    CHECK_FALSE(st.parity_pass());
  }
}
