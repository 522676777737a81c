// Loading a migration chain from disk: layouts, order, up/down pairing, hashes and errors.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "engine/chain.hpp"
#include "engine/utf8.hpp"
#include "engine/errors.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using rb::migrations::Chain;
using rb::migrations::compare_versions;
using rb::migrations::load_chain;
using rb::migrations::Migration;
using rb::migrations::version_of;

namespace {

using rbtest::TempDir;

std::vector<std::string> names(const Chain& c) {
  std::vector<std::string> out;
  for (const auto& m : c.migrations) out.push_back(m.name);
  return out;
}

// Runs `fn`, requires a rb::ConfigError and returns its message.
std::string config_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const rb::ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected rb::ConfigError, got another exception: " << e.what());
  }
  FAIL("expected rb::ConfigError, nothing was thrown");
  return "";
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("flat layout: *.sql files load in version order with no down scripts", "[chain]") {
  TempDir d;
  const std::string sql1 = "CREATE TABLE a (id int);\n";
  const std::string sql2 = "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n";
  const std::string sql3 = "ALTER TABLE a ADD COLUMN x int;\n";
  d.write("0002_create_b.sql", sql2);
  d.write("0003_alter_a.sql", sql3);
  d.write("0001_create_a.sql", sql1);
  d.write("README.md", "not a migration");
  d.write(".0004_hidden.sql", "SELECT 1;");

  const Chain c = load_chain(d.str());
  CHECK(c.layout == "flat");
  CHECK(c.directory == d.str());
  REQUIRE(names(c) == std::vector<std::string>{"0001_create_a.sql", "0002_create_b.sql", "0003_alter_a.sql"});
  CHECK(c.migrations[0].version == "0001");
  CHECK(c.migrations[1].version == "0002");
  CHECK(c.migrations[2].version == "0003");
  CHECK(c.migrations[0].up_sql == sql1);
  CHECK(c.migrations[1].up_sql == sql2);
  CHECK(c.migrations[2].up_sql == sql3);
  CHECK(fs::equivalent(c.migrations[1].up_path, d.dir() / "0002_create_b.sql"));
  for (const auto& m : c.migrations) {
    CHECK(m.down_path.empty());
    CHECK(m.down_sql.empty());
  }
  // Lookup by name and by version.
  CHECK(c.index_of("0002_create_b.sql") == 1);
  CHECK(c.index_of("0003") == 2);
  CHECK(c.index_of("3") == 2);
  CHECK(c.index_of("0099") == -1);
  REQUIRE(c.find("0001") != nullptr);
  CHECK(c.find("0001")->name == "0001_create_a.sql");
  CHECK(c.find("nope") == nullptr);
}

TEST_CASE("up/down layout: *.up.sql paired with its optional *.down.sql", "[chain]") {
  TempDir d;
  d.write("0001_users.up.sql", "CREATE TABLE users (id int);\n");
  d.write("0001_users.down.sql", "DROP TABLE users;\n");
  d.write("0002_no_down.up.sql", "CREATE INDEX i ON users (id);\n");
  d.write("0003_orders.up.sql", "CREATE TABLE orders (id int);\n");
  d.write("0003_orders.down.sql", "DROP TABLE orders;\n");

  const Chain c = load_chain(d.str());
  CHECK(c.layout == "golang-migrate");
  REQUIRE(names(c) == std::vector<std::string>{"0001_users.up.sql", "0002_no_down.up.sql", "0003_orders.up.sql"});
  const Migration& m1 = c.migrations[0];
  const Migration& m2 = c.migrations[1];
  const Migration& m3 = c.migrations[2];
  CHECK(m1.version == "0001");
  CHECK(m1.up_sql == "CREATE TABLE users (id int);\n");
  CHECK(m1.down_sql == "DROP TABLE users;\n");
  CHECK(fs::equivalent(m1.up_path, d.dir() / "0001_users.up.sql"));
  CHECK(fs::equivalent(m1.down_path, d.dir() / "0001_users.down.sql"));
  CHECK(m2.down_path.empty());
  CHECK(m2.down_sql.empty());
  CHECK(m3.down_sql == "DROP TABLE orders;\n");
  CHECK(fs::equivalent(m3.down_path, d.dir() / "0003_orders.down.sql"));
}

TEST_CASE("directory layout (diesel): <version>_<name>/up.sql + down.sql", "[chain]") {
  TempDir d;
  d.write("2024-01-01-120000_create_users/up.sql", "CREATE TABLE users (id int);\n");
  d.write("2024-01-01-120000_create_users/down.sql", "DROP TABLE users;\n");
  d.write("2023-12-31-235959_first/up.sql", "CREATE SCHEMA app;\n");
  d.write("2023-12-31-235959_first/down.sql", "DROP SCHEMA app;\n");
  d.write("2024-02-10-080000_no_down/up.sql", "CREATE INDEX i ON users (id);\n");

  const Chain c = load_chain(d.str());
  CHECK(c.layout == "diesel");
  REQUIRE(names(c) == std::vector<std::string>{"2023-12-31-235959_first", "2024-01-01-120000_create_users",
                                               "2024-02-10-080000_no_down"});
  CHECK(c.migrations[0].version == "20231231235959");  // diesel drops the dashes
  CHECK(c.migrations[1].version == "20240101120000");
  CHECK(c.migrations[0].up_sql == "CREATE SCHEMA app;\n");
  CHECK(c.migrations[0].down_sql == "DROP SCHEMA app;\n");
  CHECK(c.migrations[1].up_sql == "CREATE TABLE users (id int);\n");
  CHECK(c.migrations[1].down_sql == "DROP TABLE users;\n");
  CHECK(fs::equivalent(c.migrations[1].up_path, d.dir() / "2024-01-01-120000_create_users" / "up.sql"));
  CHECK(fs::equivalent(c.migrations[1].down_path, d.dir() / "2024-01-01-120000_create_users" / "down.sql"));
  CHECK(c.migrations[2].down_path.empty());
  CHECK(c.migrations[2].down_sql.empty());
}

TEST_CASE("directory layout (Prisma): <timestamp>_<name>/migration.sql, no down", "[chain]") {
  TempDir d;
  d.write("20240101120000_init/migration.sql", "CREATE TABLE \"User\" (id int);\n");
  d.write("20231201000000_earlier/migration.sql", "CREATE SCHEMA s;\n");
  d.write("20240315093000_add_post/migration.sql", "CREATE TABLE \"Post\" (id int);\n");
  d.write("migration_lock.toml", "provider = \"postgresql\"\n");

  const Chain c = load_chain(d.str());
  CHECK(c.layout == "prisma");
  REQUIRE(names(c) ==
          std::vector<std::string>{"20231201000000_earlier", "20240101120000_init", "20240315093000_add_post"});
  CHECK(c.migrations[1].version == "20240101120000");
  CHECK(c.migrations[1].up_sql == "CREATE TABLE \"User\" (id int);\n");
  CHECK(fs::equivalent(c.migrations[1].up_path, d.dir() / "20240101120000_init" / "migration.sql"));
  for (const auto& m : c.migrations) {
    CHECK(m.down_path.empty());
    CHECK(m.down_sql.empty());
  }
}

TEST_CASE("dbmate layout: -- migrate:up / -- migrate:down sections of one file", "[chain]") {
  TempDir d;
  d.write("20240102000000_add_b.sql",
          "-- migrate:up\nCREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n\n-- migrate:down\nDROP TABLE b;\n");
  d.write("20240101000000_add_a.sql", "-- migrate:up\nCREATE TABLE a (id int);\n");
  d.write("20240103000000_down_first.sql", "-- migrate:down\nDROP TABLE c;\n-- migrate:up\nCREATE TABLE c (id int);\n");

  const Chain c = load_chain(d.str());
  CHECK(c.layout == "dbmate");
  REQUIRE(names(c) == std::vector<std::string>{"20240101000000_add_a.sql", "20240102000000_add_b.sql",
                                               "20240103000000_down_first.sql"});
  const Migration& a = c.migrations[0];
  const Migration& b = c.migrations[1];
  const Migration& cc = c.migrations[2];

  CHECK(contains(a.up_sql, "CREATE TABLE a"));
  CHECK_FALSE(contains(a.up_sql, "migrate:"));
  CHECK(a.down_sql.find_first_not_of(" \t\r\n") == std::string::npos);
  CHECK(a.down_path.empty());

  CHECK(contains(b.up_sql, "CREATE TABLE b"));
  CHECK(contains(b.up_sql, "INSERT INTO b"));
  CHECK_FALSE(contains(b.up_sql, "DROP TABLE b"));
  CHECK_FALSE(contains(b.up_sql, "migrate:"));
  CHECK(contains(b.down_sql, "DROP TABLE b"));
  CHECK_FALSE(contains(b.down_sql, "CREATE TABLE b"));
  CHECK_FALSE(contains(b.down_sql, "migrate:"));
  CHECK(fs::equivalent(b.down_path, d.dir() / "20240102000000_add_b.sql"));

  CHECK(contains(cc.up_sql, "CREATE TABLE c"));
  CHECK_FALSE(contains(cc.up_sql, "DROP TABLE c"));
  CHECK(contains(cc.down_sql, "DROP TABLE c"));
  CHECK_FALSE(contains(cc.down_sql, "CREATE TABLE c"));
}

TEST_CASE("versions order numerically, not as text", "[chain]") {
  SECTION("2 before 10") {
    TempDir d;
    d.write("10_c.sql", "SELECT 10;");
    d.write("2_b.sql", "SELECT 2;");
    d.write("1_a.sql", "SELECT 1;");
    CHECK(names(load_chain(d.str())) == std::vector<std::string>{"1_a.sql", "2_b.sql", "10_c.sql"});
  }
  SECTION("0009 before 0010") {
    TempDir d;
    d.write("0010_y.sql", "SELECT 10;");
    d.write("0009_x.sql", "SELECT 9;");
    d.write("0100_z.sql", "SELECT 100;");
    CHECK(names(load_chain(d.str())) == std::vector<std::string>{"0009_x.sql", "0010_y.sql", "0100_z.sql"});
  }
  SECTION("Flyway V2__x before V10__x") {
    TempDir d;
    d.write("V10__ten.sql", "SELECT 10;");
    d.write("V2__two.sql", "SELECT 2;");
    d.write("V1__one.sql", "SELECT 1;");
    const Chain c = load_chain(d.str());
    CHECK(names(c) == std::vector<std::string>{"V1__one.sql", "V2__two.sql", "V10__ten.sql"});
    CHECK(c.migrations[2].version == "10");
  }
  SECTION("up/down layout orders numerically too") {
    TempDir d;
    d.write("10_c.up.sql", "SELECT 10;");
    d.write("9_b.up.sql", "SELECT 9;");
    d.write("9_b.down.sql", "SELECT -9;");
    CHECK(names(load_chain(d.str())) == std::vector<std::string>{"9_b.up.sql", "10_c.up.sql"});
  }
  SECTION("compare_versions and version_of") {
    CHECK(compare_versions("2", "10") < 0);
    CHECK(compare_versions("10", "2") > 0);
    CHECK(compare_versions("0009", "0010") < 0);
    CHECK(compare_versions("0010", "0009") > 0);
    CHECK(compare_versions("010", "10") == 0);
    CHECK(compare_versions("0001", "0001") == 0);
    CHECK(compare_versions("2023-12-31-235959", "2024-01-01-120000") < 0);
    CHECK(compare_versions("20240101120000", "20231231235959") > 0);
    CHECK(compare_versions("1.2", "1.10") < 0);
    CHECK(version_of("0001_init.sql") == "0001");
    CHECK(version_of("V2__add_users.sql") == "2");
    CHECK(version_of("v3__lower.sql") == "3");
    CHECK(version_of("2024-01-01-120000_create_users") == "2024-01-01-120000");
    CHECK(version_of("0007.sql") == "0007");
    CHECK(version_of("create_users.sql").empty());
    CHECK(version_of("Vacuum.sql").empty());
    CHECK(version_of("").empty());
  }
}

TEST_CASE("duplicate versions are an error naming both files", "[chain]") {
  SECTION("same digits") {
    TempDir d;
    d.write("0001_init.sql", "SELECT 1;");
    d.write("0002_alpha.sql", "SELECT 2;");
    d.write("0002_beta.sql", "SELECT 2;");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "0002_alpha.sql"));
    CHECK(contains(msg, "0002_beta.sql"));
  }
  SECTION("numerically equal with different zero padding") {
    TempDir d;
    d.write("0001_a.sql", "SELECT 1;");
    d.write("1_b.sql", "SELECT 1;");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "0001_a.sql"));
    CHECK(contains(msg, "1_b.sql"));
  }
  SECTION("diesel layout") {
    TempDir d;
    d.write("2024-01-01-120000_one/up.sql", "SELECT 1;");
    d.write("20240101120000_two/up.sql", "SELECT 2;");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "2024-01-01-120000_one"));
    CHECK(contains(msg, "20240101120000_two"));
  }
}

TEST_CASE("a down script without its up script is an error naming it", "[chain]") {
  TempDir d;
  d.write("0001_users.up.sql", "CREATE TABLE users (id int);");
  d.write("0001_users.down.sql", "DROP TABLE users;");
  d.write("0002_orders.down.sql", "DROP TABLE orders;");
  const std::string msg = config_error([&] { load_chain(d.str()); });
  CHECK(contains(msg, "0002_orders.down.sql"));
  CHECK_FALSE(contains(msg, "0001_users.down.sql"));
}

TEST_CASE("flat names need no numeric prefix; an unexplained file is an error naming it", "[chain]") {
  SECTION("flat: upgrade_N and plain names sort by version sort") {
    TempDir d;
    d.write("upgrade_10.sql", "SELECT 10;");
    d.write("upgrade_9.sql", "SELECT 9;");
    d.write("upgrade_104.sql", "SELECT 104;");
    const Chain c = load_chain(d.str());
    CHECK(c.layout == "flat");
    CHECK(names(c) == std::vector<std::string>{"upgrade_9.sql", "upgrade_10.sql", "upgrade_104.sql"});
    CHECK(c.migrations[2].version == "upgrade_104");
  }
  SECTION("up/down: an .up.sql without a number is not a golang-migrate file") {
    TempDir d;
    d.write("0001_init.up.sql", "SELECT 1;");
    d.write("add_index.up.sql", "SELECT 2;");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "add_index.up.sql"));
    CHECK(contains(msg, "--set layout="));
  }
  SECTION("Prisma: any directory name holding migration.sql is a migration") {
    TempDir d;
    d.write("20240101120000_init/migration.sql", "SELECT 1;");
    d.write("unversioned change/migration.sql", "SELECT 2;");
    const Chain c = load_chain(d.str());
    CHECK(names(c) == std::vector<std::string>{"20240101120000_init", "unversioned change"});
  }
}

TEST_CASE("dotted versions sort as versions (sort -V)", "[chain][layout]") {
  TempDir d;
  for (const char* f : {"2.11.0.sql", "2.5.0.sql", "2.9.1.sql", "2.9.0.sql", "2.0.0beta3-2.0.0rc1.sql"})
    d.write(f, "SELECT 1;");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "flat");
  CHECK(names(c) == std::vector<std::string>{"2.0.0beta3-2.0.0rc1.sql", "2.5.0.sql", "2.9.0.sql", "2.9.1.sql",
                                             "2.11.0.sql"});
  CHECK(c.migrations[4].version == "2.11.0");
  CHECK(c.index_of("2.9.1") == 3);
}

TEST_CASE("golang-migrate pairs up and down by number; titles may differ", "[chain][layout]") {
  TempDir d;
  d.write("30_add_x.up.sql", "ALTER TABLE t ADD COLUMN x int;");
  d.write("30_drop_x.down.sql", "ALTER TABLE t DROP COLUMN x;");
  d.write("1_t.up.sql", "CREATE TABLE t (id int);");
  d.write("4_u.up.sql", "CREATE TABLE u (id int);");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "golang-migrate");
  REQUIRE(names(c) == std::vector<std::string>{"1_t.up.sql", "4_u.up.sql", "30_add_x.up.sql"});
  CHECK(c.migrations[2].down_sql == "ALTER TABLE t DROP COLUMN x;");
  CHECK(c.migrations[0].down_path.empty());
  SECTION("two ups with one number are an error naming both") {
    d.write("30_other.up.sql", "SELECT 1;");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "30_add_x.up.sql"));
    CHECK(contains(msg, "30_other.up.sql"));
  }
}

TEST_CASE("diesel orders by the version without dashes, bytewise", "[chain][layout]") {
  TempDir d;
  d.write("2017-08-31-230457_x/up.sql", "SELECT 1;");
  d.write("20170101000000_y/up.sql", "SELECT 2;");
  d.write("00000000000000_init/up.sql", "SELECT 0;");
  d.write("2017-09-02-000000-0000_z/up.sql", "SELECT 3;");
  d.write("2017-09-02-000000-0000_z/metadata.toml", "run_in_transaction = false\n");
  d.write("2019-01-01-000000_w/up.sql", "SELECT 4;");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "diesel");
  // 00000000000000 < 20170101000000 < 20170831230457 < 201709020000000000 < 20190101000000
  CHECK(names(c) == std::vector<std::string>{"00000000000000_init", "20170101000000_y", "2017-08-31-230457_x",
                                             "2017-09-02-000000-0000_z", "2019-01-01-000000_w"});
  CHECK(c.migrations[3].version == "201709020000000000");
  CHECK(c.migrations[3].no_transaction == "diesel metadata.toml run_in_transaction = false");
  CHECK(c.migrations[2].no_transaction.empty());
  SECTION("the same version twice is an error") {
    d.write("2019-01-01-000000_again/up.sql", "SELECT 5;");
    CHECK(contains(config_error([&] { load_chain(d.str()); }), "2019-01-01-000000_again"));
  }
}

TEST_CASE("Prisma orders directory names bytewise; shared prefixes are allowed", "[chain][layout]") {
  TempDir d;
  d.write("20240304123642_traces_view_improvement/migration.sql", "SELECT 2;");
  d.write("20240304123642_traces_view/migration.sql", "SELECT 1;");
  d.write("20250625_add_pivot/migration.sql", "SELECT 4;");
  d.write("20250604085536_y/migration.sql", "SELECT 3;");
  d.write("20250714151410_z/migration.sql", "SELECT 5;");
  d.write("migration_lock.toml", "provider = \"postgresql\"\n");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "prisma");
  CHECK(names(c) == std::vector<std::string>{"20240304123642_traces_view", "20240304123642_traces_view_improvement",
                                             "20250604085536_y", "20250625_add_pivot", "20250714151410_z"});
}

TEST_CASE("sqlx: -- no-transaction on the first line runs the file outside a transaction", "[chain][layout]") {
  TempDir d;
  d.write("1_t.up.sql", "CREATE TABLE t (id int);");
  d.write("1_t.down.sql", "DROP TABLE t;");
  d.write("2_idx.up.sql", "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);");
  d.write("10_more.sql", "SELECT 1;");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "sqlx");
  REQUIRE(names(c) == std::vector<std::string>{"1_t.up.sql", "2_idx.up.sql", "10_more.sql"});
  CHECK(c.migrations[1].no_transaction == "sqlx directive -- no-transaction");
  CHECK(c.migrations[0].down_sql == "DROP TABLE t;");
}

TEST_CASE("a layout can be chosen; an unknown one is an error listing them", "[chain][layout]") {
  TempDir d;
  d.write("1_t.up.sql", "SELECT 1;");
  CHECK(load_chain(d.str(), "sqlx").layout == "sqlx");
  const std::string msg = config_error([&] { load_chain(d.str(), "liquibase"); });
  CHECK(contains(msg, "liquibase"));
  CHECK(contains(msg, "golang-migrate"));
}

TEST_CASE("mixing layouts in one directory is an error", "[chain]") {
  SECTION("flat and up/down") {
    TempDir d;
    d.write("0001_init.sql", "SELECT 1;");
    d.write("0002_next.up.sql", "SELECT 2;");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "mix"));
    CHECK(contains(msg, d.str()));
  }
  SECTION("flat and directory") {
    TempDir d;
    d.write("0001_init.sql", "SELECT 1;");
    d.write("0002_next/up.sql", "SELECT 2;");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "mix"));
  }
  SECTION("up/down and directory") {
    TempDir d;
    d.write("0001_init.up.sql", "SELECT 1;");
    d.write("20240101120000_next/migration.sql", "SELECT 2;");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "mix"));
  }
}

TEST_CASE("an unreadable migration file is an error naming it", "[chain]") {
  if (geteuid() == 0) {
    WARN("running as root: chmod 000 does not stop root from reading, so the unreadable-file case is skipped");
    return;
  }
  TempDir d;
  d.write("0001_init.sql", "SELECT 1;");
  const fs::path locked = d.write("0002_locked.sql", "SELECT 2;");
  REQUIRE(chmod(locked.c_str(), 0) == 0);
  const std::string msg = config_error([&] { load_chain(d.str()); });
  CHECK(contains(msg, "0002_locked.sql"));
}

TEST_CASE("a migration file that cannot be opened (dangling symlink) is an error naming it", "[chain]") {
  // Works as root too, unlike chmod 000.
  TempDir d;
  d.write("0001_init.sql", "SELECT 1;");
  fs::create_symlink(d.dir() / "gone" / "target.sql", d.dir() / "0002_dangling.sql");
  const std::string msg = config_error([&] { load_chain(d.str()); });
  CHECK(contains(msg, "0002_dangling.sql"));
}

TEST_CASE("a missing migrations directory is an error naming it", "[chain]") {
  TempDir d;
  const std::string missing = (d.dir() / "does-not-exist").string();
  std::string msg = config_error([&] { load_chain(missing); });
  CHECK(contains(msg, missing));

  const fs::path file = d.write("plain-file", "x");
  msg = config_error([&] { load_chain(file.string()); });
  CHECK(contains(msg, file.string()));
}

TEST_CASE("an empty directory is an empty chain", "[chain]") {
  TempDir d;
  const Chain c = load_chain(d.str());
  CHECK(c.migrations.empty());
}

TEST_CASE("sha256 is the hash of the up file's bytes", "[chain]") {
  SECTION("flat, including CRLF and BOM bytes exactly as stored") {
    TempDir d;
    const fs::path p1 = d.write("0001_a.sql", "CREATE TABLE a (id int);\n");
    const fs::path p2 = d.write("0002_b.sql", "\xEF\xBB\xBF" "CREATE TABLE b (id int);\r\nSELECT 1;\r\n");
    const Chain c = load_chain(d.str());
    REQUIRE(c.migrations.size() == 2);
    CHECK(c.migrations[0].sha256 == rbtest::sha256sum(p1));
    CHECK(c.migrations[1].sha256 == rbtest::sha256sum(p2));
    CHECK(c.migrations[0].sha256 != c.migrations[1].sha256);
  }
  SECTION("up/down: the up file only") {
    TempDir d;
    const fs::path up = d.write("0001_a.up.sql", "CREATE TABLE a (id int);\n");
    d.write("0001_a.down.sql", "DROP TABLE a;\n");
    const std::string before = load_chain(d.str()).migrations.at(0).sha256;
    CHECK(before == rbtest::sha256sum(up));
    d.write("0001_a.down.sql", "DROP TABLE IF EXISTS a;\n");
    CHECK(load_chain(d.str()).migrations.at(0).sha256 == before);
  }
  SECTION("directory: up.sql or migration.sql") {
    TempDir d;
    const fs::path up = d.write("2024-01-01-120000_a/up.sql", "CREATE TABLE a (id int);\n");
    d.write("2024-01-01-120000_a/down.sql", "DROP TABLE a;\n");
    CHECK(load_chain(d.str()).migrations.at(0).sha256 == rbtest::sha256sum(up));
    TempDir p;
    const fs::path m = p.write("20240101120000_a/migration.sql", "CREATE TABLE a (id int);\n-- prisma\n");
    CHECK(load_chain(p.str()).migrations.at(0).sha256 == rbtest::sha256sum(m));
  }
  SECTION("dbmate: the whole file") {
    TempDir d;
    const fs::path f = d.write("20240101000000_a.sql", "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n");
    const Chain c = load_chain(d.str());
    CHECK(c.migrations.at(0).sha256 == rbtest::sha256sum(f));
    // Editing only the down section still changes the recorded hash.
    d.write("20240101000000_a.sql", "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE IF EXISTS a;\n");
    CHECK(load_chain(d.str()).migrations.at(0).sha256 != c.migrations.at(0).sha256);
  }
  SECTION("an edit of one byte changes the hash") {
    TempDir d;
    const fs::path f = d.write("0001_a.sql", "SELECT 1;\n");
    const std::string h1 = load_chain(d.str()).migrations.at(0).sha256;
    d.write("0001_a.sql", "SELECT 2;\n");
    const std::string h2 = load_chain(d.str()).migrations.at(0).sha256;
    CHECK(h1 != h2);
    CHECK(h2 == rbtest::sha256sum(f));
  }
}

TEST_CASE("Flyway: version parts split on . and _ compare as numbers; U pairs with V; R__ last", "[chain][layout]") {
  TempDir d;
  d.write("V1_1__a.sql", "SELECT 11;");
  d.write("V1.2__b.sql", "SELECT 12;");
  d.write("V1_10__c.sql", "SELECT 110;");
  d.write("V2__d.sql", "SELECT 2;");
  d.write("V1__init.sql", "SELECT 1;");
  d.write("U1.2__b.sql", "SELECT -12;");
  d.write("R__views.sql", "CREATE OR REPLACE VIEW v AS SELECT 1;");
  d.write("R__a_functions.sql", "SELECT 'f';");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "flyway");
  // 1 < 1.1 (V1_1) < 1.2 (V1.2) < 1.10 (V1_10) < 2, then repeatables by description.
  REQUIRE(names(c) == std::vector<std::string>{"V1__init.sql", "V1_1__a.sql", "V1.2__b.sql", "V1_10__c.sql",
                                               "V2__d.sql", "R__a_functions.sql", "R__views.sql"});
  CHECK(c.migrations[1].version == "1.1");
  CHECK(c.migrations[2].down_sql == "SELECT -12;");
  CHECK(c.migrations[0].down_path.empty());
  CHECK_FALSE(c.migrations[4].repeatable);
  CHECK(c.migrations[5].repeatable);
  CHECK(c.migrations[6].repeatable);
  SECTION("1.1 written as V1_1 and V1.1.0 is one version: an error naming both") {
    d.write("V1.1.0__again.sql", "SELECT 0;");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "V1_1__a.sql"));
    CHECK(contains(msg, "V1.1.0__again.sql"));
  }
  SECTION("an undo without its versioned migration is an error") {
    d.write("U7__gone.sql", "SELECT 7;");
    CHECK(contains(config_error([&] { load_chain(d.str()); }), "U7__gone.sql"));
  }
  SECTION("a callback file under --set layout=flyway is refused, not skipped") {
    d.write("afterMigrate.sql", "SELECT 1;");
    CHECK(contains(config_error([&] { load_chain(d.str(), "flyway"); }), "afterMigrate.sql"));
  }
}

TEST_CASE("goose: annotated sections, numeric versions, NO TRANSACTION; ENVSUBST is refused", "[chain][layout]") {
  TempDir d;
  const std::string body =
      "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n"
      "-- +goose StatementEnd\n\n-- +goose Down\nDROP FUNCTION f();\n";
  d.write("10_f.sql", body);
  d.write("9_t.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (id);\n");
  d.write("00001_init.sql", "-- +goose Up\nCREATE TABLE t (id int);\n");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "goose");
  REQUIRE(names(c) == std::vector<std::string>{"00001_init.sql", "9_t.sql", "10_f.sql"});
  CHECK(c.migrations[1].no_transaction == "goose annotation -- +goose NO TRANSACTION");
  CHECK(c.migrations[2].no_transaction.empty());
  // The up section keeps the file's line numbers: line 3 is still line 3, the down is blanked.
  CHECK(c.migrations[2].up_sql.find("CREATE FUNCTION") == body.find("CREATE FUNCTION"));
  CHECK(c.migrations[2].up_sql.find("DROP FUNCTION") == std::string::npos);
  CHECK(c.migrations[2].down_sql.find("DROP FUNCTION f();") != std::string::npos);
  CHECK(c.migrations[2].sha256 == rbtest::sha256sum(d.str() + "/10_f.sql"));
  SECTION("ENVSUBST ON is refused with the file and line") {
    d.write("11_env.sql", "-- +goose Up\n-- +goose ENVSUBST ON\nCREATE ROLE ${ROLE};\n");
    CHECK(contains(config_error([&] { load_chain(d.str()); }), "11_env.sql:2:"));
  }
  SECTION("two files with one version are an error naming both") {
    d.write("010_again.sql", "-- +goose Up\nSELECT 1;\n");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    CHECK(contains(msg, "10_f.sql"));
    CHECK(contains(msg, "010_again.sql"));
  }
}

TEST_CASE("node-pg-migrate: -- Up Migration / -- Down Migration, locale order of the paths", "[chain][layout]") {
  TempDir d;
  d.write("1700000000000_create-users.sql", "-- Up Migration\nCREATE TABLE users (id int);\n-- Down Migration\nDROP TABLE users;\n");
  d.write("1700000000001_Add_email.sql", "--  up migration\nALTER TABLE users ADD email text;\n");
  d.write("1700000000001_add-name.sql", "ALTER TABLE users ADD name text;\n");
  d.write("9_late.sql", "SELECT 9;\n");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "node-pg-migrate");
  // Digits one by one ("9" after "1700..."), case-insensitive letters ("Add_email" before "add-name").
  REQUIRE(names(c) == std::vector<std::string>{"1700000000000_create-users.sql", "1700000000001_Add_email.sql",
                                               "1700000000001_add-name.sql", "9_late.sql"});
  CHECK(c.migrations[0].up_sql.find("DROP TABLE") == std::string::npos);
  CHECK(c.migrations[0].down_sql.find("DROP TABLE users;") != std::string::npos);
  CHECK(c.migrations[2].up_sql == "ALTER TABLE users ADD name text;\n");
  CHECK(c.migrations[2].down_path.empty());
  SECTION("a down marker without an up marker is refused: the tool would run the down part") {
    d.write("1800000000000_bad.sql", "DROP TABLE x;\n-- Down Migration\nCREATE TABLE x ();\n");
    CHECK(contains(config_error([&] { load_chain(d.str()); }), "1800000000000_bad.sql:2:"));
  }
}

TEST_CASE("versioned directories: <major>/<minor>_<name>.up.sql, numeric on both levels", "[chain][layout]") {
  TempDir d;
  d.write("2/10_x.up.sql", "SELECT 210;");
  d.write("2/9_y.up.sql", "SELECT 29;");
  d.write("2/9_y_undo.down.sql", "SELECT -29;");
  d.write("10/1_z.up.sql", "SELECT 101;");
  d.write("1/1_init.up.sql", "SELECT 11;");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "versioned-dirs");
  REQUIRE(names(c) == std::vector<std::string>{"1/1_init.up.sql", "2/9_y.up.sql", "2/10_x.up.sql", "10/1_z.up.sql"});
  CHECK(c.migrations[1].version == "2.9");
  CHECK(c.migrations[1].down_sql == "SELECT -29;");
  CHECK(c.migrations[2].down_path.empty());
  SECTION("an orphan down script is an error naming it") {
    d.write("10/4_w.down.sql", "SELECT 1;");
    CHECK(contains(config_error([&] { load_chain(d.str()); }), "10/4_w.down.sql"));
  }
}

TEST_CASE("a migration written in code (.go, .js, .ts) is refused: it would be skipped", "[chain][layout]") {
  for (const char* code : {"00002_seed.go", "1700000000001_seed.js", "20240101_x.ts", "V3__java_thing.java"}) {
    TempDir d;
    d.write("00001_init.sql", "-- +goose Up\nCREATE TABLE t (id int);\n");
    d.write(code, "package migrations\n");
    const std::string msg = config_error([&] { load_chain(d.str()); });
    INFO(code);
    CHECK(contains(msg, code));
    CHECK(contains(msg, "is code, not SQL"));
  }
}

TEST_CASE("postgrator: <version>.do.<name>.sql paired with .undo. by version, numeric order", "[chain][layout]") {
  TempDir d;
  d.write("010.do.c.sql", "SELECT 10;");
  d.write("002.do.b.sql", "SELECT 2;");
  d.write("002.undo.b.sql", "SELECT -2;");
  d.write("001.do.a.sql", "SELECT 1;");
  const Chain c = load_chain(d.str());
  CHECK(c.layout == "postgrator");
  REQUIRE(names(c) == std::vector<std::string>{"001.do.a.sql", "002.do.b.sql", "010.do.c.sql"});
  CHECK(c.migrations[1].down_sql == "SELECT -2;");
  CHECK(c.migrations[2].down_path.empty());
  SECTION("an undo without its do is an error naming it") {
    d.write("7.undo.x.sql", "SELECT 1;");
    CHECK(contains(config_error([&] { load_chain(d.str()); }), "7.undo.x.sql"));
  }
}

TEST_CASE("a migration that is a symlink out of the directory is refused naming both paths", "[chain]") {
  TempDir d, outside;
  const std::string secret = outside.write("credentials", "password=Cr3dFileOnly\n");
  d.write("0001_a.sql", "SELECT 1;");
  REQUIRE(symlink(secret.c_str(), (d.str() + "/0002_b.sql").c_str()) == 0);
  const std::string msg = config_error([&] { load_chain(d.str()); });
  CHECK(contains(msg, "0002_b.sql"));
  CHECK(contains(msg, "credentials"));
  CHECK(contains(msg, "outside the migrations directory"));
  SECTION("a symlink to a file inside the directory is fine") {
    TempDir e;
    e.write("shared/0001.sql", "SELECT 1;");
    REQUIRE(symlink((e.str() + "/shared/0001.sql").c_str(), (e.str() + "/0001_a.sql").c_str()) == 0);
    CHECK(load_chain(e.str(), "flat").migrations.size() == 1);  // shared/ is not a migration; the link is
  }
}

TEST_CASE("a file name that is not UTF-8 is refused before anything runs, shown escaped", "[chain][utf8]") {
  TempDir d;
  d.write("0001_a.sql", "SELECT 1;");
  d.write("0002_caf\xe9.sql", "SELECT 2;");
  const std::string msg = config_error([&] { load_chain(d.str()); });
  CHECK(contains(msg, "0002_caf\\xe9.sql: the file name is not valid UTF-8"));
  CHECK(msg.find('\xe9') == std::string::npos);  // the message itself is valid UTF-8
  CHECK(rb::utf8::first_invalid(msg) == std::string::npos);
  SECTION("a valid UTF-8 name is fine") {
    std::filesystem::remove(d.str() + "/0002_caf\xe9.sql");
    d.write("0002_caf\xc3\xa9.sql", "SELECT 2;");
    CHECK(load_chain(d.str()).migrations.size() == 2);
  }
}

TEST_CASE("utf8::escaped writes each byte that is not UTF-8 as \\xNN and keeps the rest", "[utf8]") {
  CHECK(rb::utf8::escaped("plain") == "plain");
  CHECK(rb::utf8::escaped("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(rb::utf8::escaped("caf\xe9") == "caf\\xe9");
  CHECK(rb::utf8::escaped("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a surrogate
  CHECK(rb::utf8::escaped("\xc0\xaf") == "\\xc0\\xaf");          // overlong
  CHECK(rb::utf8::escaped("\xe2\x82") == "\\xe2\\x82");          // cut short
  CHECK(rb::utf8::first_invalid("ok\xff") == 2);
  CHECK(rb::utf8::first_invalid("ok") == std::string::npos);
}
