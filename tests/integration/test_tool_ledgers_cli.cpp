// Other migration tools' ledgers through the real CLI (`--set ledger=TOOL`, the default's
// refusal, adopt.lua, resolve.lua, rollback.lua), against the real PostgreSQL server.
//
// Every expectation about a tool's table is written from /tmp/tool-ledgers.md (the tools'
// own source), never from runbook's adapters: the DDL each tool runs, the rows it writes
// (checksums computed here with sha384sum / sha256sum / python3's zlib, not with engine code),
// its failed states and its users' fixes. Each tool is one row of the `tools()` table below;
// the tests walk that table.
#include <catch2/catch.hpp>

#include <stdio.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {

// ---------------------------------------------------------------------------------------------
// Independent helpers: a shell command's output, hashes and Flyway's CRC, DDL dumps.
// ---------------------------------------------------------------------------------------------

std::string capture(const std::string& cmd) {
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) throw std::runtime_error("cannot run " + cmd);
  std::array<char, 4096> buf{};
  std::string out;
  while (fgets(buf.data(), static_cast<int>(buf.size()), f)) out += buf.data();
  if (pclose(f) != 0) throw std::runtime_error(cmd + " failed: " + out);
  return out;
}

std::string sha384_of(const std::string& path) { return capture("sha384sum '" + path + "'").substr(0, 96); }
std::string sha256_of(const std::string& path) { return rbtest::sha256sum(path); }

// Flyway's checksum as /tmp/tool-ledgers.md §8 describes ChecksumCalculator: the file decoded
// as UTF-8, one leading BOM dropped, lines split at \r\n, \r or \n (terminators excluded), each
// line's UTF-8 bytes fed into one running CRC-32, the result as a signed 32-bit integer.
long long flyway_crc_of(const std::string& path) {
  const std::string py = R"PY(import re, sys, zlib
t = open(sys.argv[1], encoding="utf-8", newline="").read()
t = t[1:] if t.startswith("\ufeff") else t
c = 0
for line in re.split("\r\n|\r|\n", t):
    c = zlib.crc32(line.encode("utf-8"), c)
print(c - 2**32 if c >= 2**31 else c))PY";
  return std::stoll(capture("python3 -c '" + py + "' '" + path + "'"));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

bool table_exists(const TempDatabase& db, const std::string& table) {
  return db.count("SELECT to_regclass('" + table + "') IS NOT NULL") == 1;
}

// The table's definition as pg_dump prints it, without comments, blank lines and the
// random \restrict key of pg_dump 15.14+; "" when the table does not exist.
std::string table_ddl(const std::string& dbname, const std::string& table) {
  const std::string dump = capture("pg_dump --schema-only --no-owner -d '" + dbname + "' -t '" + table + "'");
  std::string out;
  for (const auto& l : lines_of(dump)) {
    if (l.empty() || l.rfind("--", 0) == 0 || l.rfind("\\restrict", 0) == 0 || l.rfind("\\unrestrict", 0) == 0) continue;
    out += l + "\n";
  }
  return out;
}
std::string table_ddl(const TempDatabase& db, const std::string& table) {
  return table_exists(db, table) ? table_ddl(db.name(), table) : "";
}

// Every row of a table as text, in a stable order: "nothing was written to it".
std::string table_rows(const TempDatabase& db, const std::string& table) {
  if (!table_exists(db, table)) return "<no table>";
  return rbtest::psql(db, "SELECT t::text FROM " + table + " t ORDER BY 1");
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// runbook's own ledger: its file names, sorted.
std::vector<std::string> own_ledger(const TempDatabase& db, const std::string& table) {
  if (!table_exists(db, table)) return {};
  return sorted(lines_of(rbtest::psql(db, "SELECT filename FROM " + table)));
}

std::string sorted_lines(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  std::string out;
  for (const auto& l : v) out += l + "\n";
  return out;
}

std::string q(const std::string& s) {  // an SQL string literal
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// ---------------------------------------------------------------------------------------------
// The tools: each one's table as it creates it, a chain in its layout, and the rows it writes.
// ---------------------------------------------------------------------------------------------

struct Mig {
  std::string name;     // runbook's name for it: the file, or the directory (diesel, Prisma)
  std::string key;      // the tool's identity for it, as its table stores it
  std::string up_file;  // the file the tool checksums (relative to migrations/)
  std::string up_sql;   // what "applying it by hand" runs
  std::vector<std::pair<std::string, std::string>> files;  // relative to migrations/
  std::string applied;  // SQL boolean: its schema change is there
  std::string description;  // sqlx / Flyway description
  bool no_tx = false;       // runs outside a transaction (a layout directive, or CONCURRENTLY)
};

struct Tool;
using RecordSql = std::function<std::string(const Tool&, const Mig&, const TempDir&)>;

struct Tool {
  std::string name;   // --set ledger= / --set tool=
  std::string table;  // its default table
  std::string ddl;    // exactly what the tool runs to create it (/tmp/tool-ledgers.md)
  std::vector<Mig> chain;  // four migrations: the first three are the chain, the fourth comes later
  bool down = false;       // the third migration has a down script
  std::string adopt_ledger;  // runbook's ledger after adopt.lua
  // SQL that records `m` applied as the tool itself does, in the tool's table.
  RecordSql record;
  // The tool's rows, one per line: compared with expected_rows().
  std::string rows_query;
  // One expected line of rows_query for `m`, applied as the `rank`-th row (Flyway's installed_rank).
  std::function<std::string(const Tool&, const Mig&, const TempDir&, int rank)> row;
  std::string header;       // goose's initial (0, true) row
  bool one_row = false;     // golang-migrate: only the current version
};

std::string path_of(const TempDir& dir, const Mig& m) { return dir.path() + "/migrations/" + m.up_file; }

std::string expected_rows(const Tool& t, const TempDir& dir, std::size_t n) {
  std::string out = t.header;
  for (std::size_t i = 0; i < n; ++i)
    if (!t.one_row || i + 1 == n) out += t.row(t, t.chain[i], dir, static_cast<int>(i) + 1) + "\n";
  return out;
}

const char* const kUsers = "CREATE TABLE users (id int);\n";
const char* const kUsersIndex = "CREATE INDEX CONCURRENTLY users_id ON users (id);\n";
const char* const kName = "ALTER TABLE users ADD COLUMN name text;\n";
const char* const kEmail = "ALTER TABLE users ADD COLUMN email text;\n";
const char* const kUsersApplied = "to_regclass('public.users') IS NOT NULL";
const char* const kIndexApplied = "to_regclass('public.users_id') IS NOT NULL";
const char* const kNameApplied =
    "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'name')";
const char* const kEmailApplied =
    "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email')";

const std::vector<Tool>& tools() {
  static const std::vector<Tool> all = [] {
    std::vector<Tool> v;

    // sqlx: simple and reversible files, `-- no-transaction`, SHA-384 of the file's bytes.
    {
      Tool t;
      t.name = "sqlx";
      t.table = "public._sqlx_migrations";
      t.ddl = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (\n    version BIGINT PRIMARY KEY,\n"
              "    description TEXT NOT NULL,\n    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
              "    success BOOLEAN NOT NULL,\n    checksum BYTEA NOT NULL,\n    execution_time BIGINT NOT NULL\n);";
      const std::string idx = std::string("-- no-transaction\n") + kUsersIndex;
      t.chain = {
          {"20240101120000_create_users.sql", "20240101120000", "20240101120000_create_users.sql", kUsers,
           {{"20240101120000_create_users.sql", kUsers}}, kUsersApplied, "create users"},
          {"20240102120000_users_index.up.sql", "20240102120000", "20240102120000_users_index.up.sql", kUsersIndex,
           {{"20240102120000_users_index.up.sql", idx}, {"20240102120000_users_index.down.sql", "DROP INDEX users_id;\n"}},
           kIndexApplied, "users index", true},
          {"20240103120000_add_name.up.sql", "20240103120000", "20240103120000_add_name.up.sql", kName,
           {{"20240103120000_add_name.up.sql", kName},
            {"20240103120000_add_name.down.sql", "ALTER TABLE users DROP COLUMN name;\n"}},
           kNameApplied, "add name"},
          {"20240104120000_add_email.sql", "20240104120000", "20240104120000_add_email.sql", kEmail,
           {{"20240104120000_add_email.sql", kEmail}}, kEmailApplied, "add email"},
      };
      t.down = true;
      t.adopt_ledger = "public.schema_migrations";
      t.record = [](const Tool&, const Mig& m, const TempDir& d) {
        return "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (" +
               m.key + ", " + q(m.description) + ", TRUE, decode('" + sha384_of(path_of(d, m)) + "', 'hex'), 1234567)";
      };
      t.rows_query = "SELECT version, description, success, encode(checksum, 'hex'), execution_time >= 0,"
                     " installed_on <= now() FROM public._sqlx_migrations ORDER BY version";
      t.row = [](const Tool&, const Mig& m, const TempDir& d, int) {
        return m.key + "|" + m.description + "|t|" + sha384_of(path_of(d, m)) + "|t|t";
      };
      v.push_back(t);
    }

    // Prisma: <name>/migration.sql, SHA-256 hex, UUID v4 ids, no downs.
    {
      Tool t;
      t.name = "prisma";
      t.table = "public._prisma_migrations";
      t.ddl = "CREATE TABLE _prisma_migrations (\n    id                      VARCHAR(36) PRIMARY KEY NOT NULL,\n"
              "    checksum                VARCHAR(64) NOT NULL,\n    finished_at             TIMESTAMPTZ,\n"
              "    migration_name          VARCHAR(255) NOT NULL,\n    logs                    TEXT,\n"
              "    rolled_back_at          TIMESTAMPTZ,\n"
              "    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
              "    applied_steps_count     INTEGER NOT NULL DEFAULT 0\n);";
      auto mig = [](const std::string& dir, const std::string& sql, const char* applied, bool no_tx) {
        return Mig{dir, dir, dir + "/migration.sql", sql, {{dir + "/migration.sql", sql}}, applied, "", no_tx};
      };
      t.chain = {mig("20240101120000_init", kUsers, kUsersApplied, false),
                 mig("20240102120000_users_index", kUsersIndex, kIndexApplied, true),
                 mig("20240103120000_add_name", kName, kNameApplied, false),
                 mig("20240104120000_add_email", kEmail, kEmailApplied, false)};
      t.adopt_ledger = "public.schema_migrations";
      t.record = [](const Tool&, const Mig& m, const TempDir& d) {
        return "INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name) VALUES (gen_random_uuid()::text, " +
               q(sha256_of(path_of(d, m))) + ", now(), " + q(m.name) +
               "); UPDATE _prisma_migrations SET applied_steps_count = applied_steps_count + 1, finished_at = now()"
               " WHERE migration_name = " + q(m.name) + " AND finished_at IS NULL";
      };
      t.rows_query =
          "SELECT migration_name, checksum, finished_at IS NOT NULL, logs IS NULL, applied_steps_count,"
          " id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AND length(id) = 36,"
          " started_at <= finished_at FROM public._prisma_migrations WHERE rolled_back_at IS NULL ORDER BY migration_name";
      t.row = [](const Tool&, const Mig& m, const TempDir& d, int) {
        return m.name + "|" + sha256_of(path_of(d, m)) + "|t|t|1|t|t";
      };
      v.push_back(t);
    }

    // golang-migrate: N_title.up.sql / .down.sql, one row (current version, dirty).
    {
      Tool t;
      t.name = "golang-migrate";
      t.table = "public.schema_migrations";
      t.ddl = "CREATE TABLE IF NOT EXISTS \"public\".\"schema_migrations\" (version bigint not null primary key, "
              "dirty boolean not null)";
      auto mig = [](const std::string& stem, const std::string& up, const std::string& down, const char* applied,
                    bool no_tx) {
        Mig m{stem + ".up.sql", stem.substr(0, stem.find('_')), stem + ".up.sql", up, {{stem + ".up.sql", up}},
              applied, "", no_tx};
        if (!down.empty()) m.files.push_back({stem + ".down.sql", down});
        return m;
      };
      t.chain = {mig("20240101120000_create_users", kUsers, "DROP TABLE users;\n", kUsersApplied, false),
                 mig("20240102120000_users_index", kUsersIndex, "DROP INDEX CONCURRENTLY users_id;\n", kIndexApplied, true),
                 mig("20240103120000_add_name", kName, "ALTER TABLE users DROP COLUMN name;\n", kNameApplied, false),
                 mig("20240104120000_add_email", kEmail, "", kEmailApplied, false)};
      t.down = true;
      t.adopt_ledger = "public.runbook_ledger";
      t.record = [](const Tool&, const Mig& m, const TempDir&) {
        return "TRUNCATE \"public\".\"schema_migrations\"; INSERT INTO \"public\".\"schema_migrations\" (version, dirty)"
               " VALUES (" + m.key + ", false)";
      };
      t.rows_query = "SELECT version, dirty FROM public.schema_migrations";
      t.row = [](const Tool&, const Mig& m, const TempDir&, int) { return m.key + "|f"; };
      t.one_row = true;
      v.push_back(t);
    }

    // dbmate: one file per migration with -- migrate:up / -- migrate:down, transaction:false,
    // the version being the leading digits as text (leading zeros kept).
    {
      Tool t;
      t.name = "dbmate";
      t.table = "public.schema_migrations";
      t.ddl = "create table if not exists public.schema_migrations (version varchar primary key)";
      auto mig = [](const std::string& file, const std::string& up, const std::string& down, const char* applied,
                    bool no_tx) {
        const std::string text = std::string("-- migrate:up") + (no_tx ? " transaction:false" : "") + "\n" + up +
                                 "\n-- migrate:down\n" + down;
        return Mig{file, file.substr(0, file.find('_')), file, up, {{file, text}}, applied, "", no_tx};
      };
      t.chain = {mig("001_create_users.sql", kUsers, "DROP TABLE users;\n", kUsersApplied, false),
                 mig("002_users_index.sql", kUsersIndex, "DROP INDEX CONCURRENTLY users_id;\n", kIndexApplied, true),
                 mig("003_add_name.sql", kName, "ALTER TABLE users DROP COLUMN name;\n", kNameApplied, false),
                 mig("004_add_email.sql", kEmail, "", kEmailApplied, false)};
      t.down = true;
      t.adopt_ledger = "public.runbook_ledger";
      t.record = [](const Tool&, const Mig& m, const TempDir&) {
        return "insert into public.schema_migrations (version) values (" + q(m.key) + ")";
      };
      t.rows_query = "SELECT version FROM public.schema_migrations ORDER BY version";
      t.row = [](const Tool&, const Mig& m, const TempDir&, int) { return m.key; };
      v.push_back(t);
    }

    // diesel: <YYYY-MM-DD-HHMMSS>_<name>/up.sql (+ down.sql, metadata.toml).
    {
      Tool t;
      t.name = "diesel";
      t.table = "public.__diesel_schema_migrations";
      t.ddl = "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (\n       version VARCHAR(50) PRIMARY KEY NOT NULL,\n"
              "       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n);";
      auto mig = [](const std::string& dir, const std::string& up, const std::string& down, const char* applied,
                    bool no_tx) {
        std::string key = dir.substr(0, dir.find('_'));
        key.erase(std::remove(key.begin(), key.end(), '-'), key.end());
        Mig m{dir, key, dir + "/up.sql", up, {{dir + "/up.sql", up}}, applied, "", no_tx};
        if (!down.empty()) m.files.push_back({dir + "/down.sql", down});
        if (no_tx) m.files.push_back({dir + "/metadata.toml", "run_in_transaction = false\n"});
        return m;
      };
      t.chain = {mig("2024-01-15-093000_create_users", kUsers, "DROP TABLE users;\n", kUsersApplied, false),
                 mig("2024-01-16-093000_users_index", kUsersIndex, "DROP INDEX CONCURRENTLY users_id;\n", kIndexApplied, true),
                 mig("2024-01-17-093000_add_name", kName, "ALTER TABLE users DROP COLUMN name;\n", kNameApplied, false),
                 mig("2024-01-18-093000_add_email", kEmail, "", kEmailApplied, false)};
      t.down = true;
      t.adopt_ledger = "public.schema_migrations";
      t.record = [](const Tool&, const Mig& m, const TempDir&) {
        return "INSERT INTO __diesel_schema_migrations (version) VALUES (" + q(m.key) + ")";
      };
      t.rows_query = "SELECT version, run_on <= localtimestamp FROM public.__diesel_schema_migrations ORDER BY version";
      t.row = [](const Tool&, const Mig& m, const TempDir&, int) { return m.key + "|t"; };
      v.push_back(t);
    }

    // node-pg-migrate: -- Up Migration / -- Down Migration, name = file name without extension.
    // Its SQL migrations cannot leave the transaction, so none here runs outside one.
    {
      Tool t;
      t.name = "node-pg-migrate";
      t.table = "public.pgmigrations";
      t.ddl = "CREATE TABLE \"public\".\"pgmigrations\" (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, "
              "run_on timestamp NOT NULL)";
      auto mig = [](const std::string& file, const std::string& up, const std::string& down, const char* applied) {
        const std::string text = "-- Up Migration\n" + up + (down.empty() ? "" : "-- Down Migration\n" + down);
        return Mig{file, file.substr(0, file.size() - 4), file, up, {{file, text}}, applied, "", false};
      };
      t.chain = {mig("1700000000000_create-users.sql", kUsers, "DROP TABLE users;\n", kUsersApplied),
                 mig("1700000000001_users-index.sql", "CREATE INDEX users_id ON users (id);\n", "DROP INDEX users_id;\n",
                     kIndexApplied),
                 mig("1700000000002_add-name.sql", kName, "ALTER TABLE users DROP COLUMN name;\n", kNameApplied),
                 mig("1700000000003_add-email.sql", kEmail, "", kEmailApplied)};
      t.down = true;
      t.adopt_ledger = "public.schema_migrations";
      t.record = [](const Tool&, const Mig& m, const TempDir&) {
        return "INSERT INTO \"public\".\"pgmigrations\" (name, run_on) VALUES (" + q(m.key) + ", NOW());";
      };
      t.rows_query = "SELECT name, run_on <= localtimestamp FROM public.pgmigrations ORDER BY id";
      t.row = [](const Tool&, const Mig& m, const TempDir&, int) { return m.key + "|t"; };
      v.push_back(t);
    }

    // goose: -- +goose Up / Down, -- +goose NO TRANSACTION; the table starts with (0, true).
    {
      Tool t;
      t.name = "goose";
      t.table = "public.goose_db_version";
      t.ddl = "CREATE TABLE goose_db_version (\n    id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,\n"
              "    version_id bigint NOT NULL,\n    is_applied boolean NOT NULL,\n"
              "    tstamp timestamp NOT NULL DEFAULT now()\n);\n"
              "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true);";
      auto mig = [](const std::string& file, const std::string& up, const std::string& down, const char* applied,
                    bool no_tx) {
        const std::string text = std::string(no_tx ? "-- +goose NO TRANSACTION\n" : "") + "-- +goose Up\n" + up +
                                 (down.empty() ? "" : "-- +goose Down\n" + down);
        return Mig{file, std::to_string(std::stoll(file.substr(0, file.find('_')))), file, up, {{file, text}},
                   applied, "", no_tx};
      };
      t.chain = {mig("00001_create_users.sql", kUsers, "DROP TABLE users;\n", kUsersApplied, false),
                 mig("00002_users_index.sql", kUsersIndex, "DROP INDEX CONCURRENTLY users_id;\n", kIndexApplied, true),
                 mig("00003_add_name.sql", kName, "ALTER TABLE users DROP COLUMN name;\n", kNameApplied, false),
                 mig("00004_add_email.sql", kEmail, "", kEmailApplied, false)};
      t.down = true;
      t.adopt_ledger = "public.schema_migrations";
      t.record = [](const Tool&, const Mig& m, const TempDir&) {
        return "INSERT INTO goose_db_version (version_id, is_applied) VALUES (" + m.key + ", true)";
      };
      t.rows_query = "SELECT version_id, is_applied, tstamp <= localtimestamp FROM public.goose_db_version ORDER BY id";
      t.row = [](const Tool&, const Mig& m, const TempDir&, int) { return m.key + "|t|t"; };
      t.header = "0|t|t\n";
      v.push_back(t);
    }

    // Flyway: V<version>__<description>.sql, U... undo, CRC-32 of the lines.
    {
      Tool t;
      t.name = "flyway";
      t.table = "public.flyway_schema_history";
      t.ddl = "CREATE TABLE \"public\".\"flyway_schema_history\" (\n    \"installed_rank\" INT NOT NULL,\n"
              "    \"version\" VARCHAR(50),\n    \"description\" VARCHAR(200) NOT NULL,\n"
              "    \"type\" VARCHAR(20) NOT NULL,\n    \"script\" VARCHAR(1000) NOT NULL,\n    \"checksum\" INTEGER,\n"
              "    \"installed_by\" VARCHAR(100) NOT NULL,\n    \"installed_on\" TIMESTAMP NOT NULL DEFAULT now(),\n"
              "    \"execution_time\" INTEGER NOT NULL,\n    \"success\" BOOLEAN NOT NULL\n);\n"
              "ALTER TABLE \"public\".\"flyway_schema_history\" ADD CONSTRAINT \"flyway_schema_history_pk\" "
              "PRIMARY KEY (\"installed_rank\");\n"
              "CREATE INDEX \"flyway_schema_history_s_idx\" ON \"public\".\"flyway_schema_history\" (\"success\");";
      const std::string ab = "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n";  // CRC -956080171 (spec)
      t.chain = {
          {"V1__create_t.sql", "1", "V1__create_t.sql", "CREATE TABLE t (id int);\n",  // CRC 92137680 (spec)
           {{"V1__create_t.sql", "CREATE TABLE t (id int);\n"}}, "to_regclass('public.t') IS NOT NULL", "create t"},
          {"V1_1__t_index.sql", "1.1", "V1_1__t_index.sql", "CREATE INDEX CONCURRENTLY t_id ON t (id);\n",
           {{"V1_1__t_index.sql", "CREATE INDEX CONCURRENTLY t_id ON t (id);\n"}},
           "to_regclass('public.t_id') IS NOT NULL", "t index", true},
          {"V2__add_a_and_b.sql", "2", "V2__add_a_and_b.sql", ab,
           {{"V2__add_a_and_b.sql", ab}, {"U2__add_a_and_b.sql", "DROP TABLE b;\nDROP TABLE a;\n"}},
           "to_regclass('public.b') IS NOT NULL", "add a and b"},
          {"V2_1__add_c.sql", "2.1", "V2_1__add_c.sql", "CREATE TABLE c (id int);\n",
           {{"V2_1__add_c.sql", "CREATE TABLE c (id int);\n"}}, "to_regclass('public.c') IS NOT NULL", "add c"},
      };
      t.down = true;
      t.adopt_ledger = "public.schema_migrations";
      t.record = [](const Tool&, const Mig& m, const TempDir& d) {
        return "INSERT INTO \"public\".\"flyway_schema_history\" (\"installed_rank\",\"version\",\"description\",\"type\","
               "\"script\",\"checksum\",\"installed_by\",\"execution_time\",\"success\") SELECT "
               "coalesce(max(installed_rank), 0) + 1, " + q(m.key) + ", " + q(m.description) + ", 'SQL', " +
               q(m.up_file) + ", " + std::to_string(flyway_crc_of(path_of(d, m))) +
               ", current_user, 7, true FROM \"public\".\"flyway_schema_history\"";
      };
      t.rows_query = "SELECT installed_rank, version, description, type, script, checksum, installed_by = current_user,"
                     " execution_time >= 0, success FROM public.flyway_schema_history ORDER BY installed_rank";
      t.row = [](const Tool&, const Mig& m, const TempDir& d, int rank) {
        return std::to_string(rank) + "|" + m.key + "|" + m.description + "|SQL|" + m.up_file + "|" +
               std::to_string(flyway_crc_of(path_of(d, m))) + "|t|t|t";
      };
      v.push_back(t);
    }
    return v;
  }();
  return all;
}

// The tool's table as the tool creates it, dumped from a scratch database (once per tool).
const std::string& reference_ddl(const Tool& t) {
  static std::map<std::string, std::string> cache;
  auto it = cache.find(t.name);
  if (it != cache.end()) return it->second;
  TempDatabase ref("rb_tl_ref");
  ref.connect().run_script(t.ddl);
  return cache[t.name] = table_ddl(ref, t.table);
}

// ---------------------------------------------------------------------------------------------
// One database and one migrations directory for one tool.
// ---------------------------------------------------------------------------------------------

struct Scene {
  const Tool& tool;
  TempDir dir;
  TempDatabase db{"rb_tl"};

  explicit Scene(const Tool& t, std::size_t files = 3) : tool(t) {
    for (std::size_t i = 0; i < files; ++i) add_file(i);
  }
  const Mig& m(std::size_t i) const { return tool.chain.at(i); }
  void add_file(std::size_t i) const {
    for (const auto& [f, content] : m(i).files) dir.write("migrations/" + f, content);
  }
  void sql(const std::string& s) const { db.connect().run_script(s); }
  bool applied(std::size_t i) const { return db.count("SELECT " + m(i).applied) == 1; }

  // The tool's table as the tool creates it, with the first `n` migrations recorded by the
  // tool and applied (by hand here, as the tool would have run them).
  void seed(std::size_t n) const {
    sql(tool.ddl);
    for (std::size_t i = 0; i < n; ++i) {
      rbtest::psql(db, m(i).up_sql);
      sql(tool.record(tool, m(i), dir));
    }
  }

  std::string rows() const { return rbtest::psql(db, tool.rows_query); }
  std::string expected(std::size_t n) const { return expected_rows(tool, dir, n); }
  std::string ddl() const { return table_ddl(db, tool.table); }

  // Runs a runbook. Whatever it does, the tool's table is never altered or dropped: if it
  // existed, its definition is the same after; if the run created it, it is the tool's own.
  CliResult run(const std::string& runbook, std::vector<std::string> args) const {
    const std::string before = ddl();
    auto r = rbtest::run_runbook(dir, db, runbook, args);
    const std::string after = ddl();
    std::string cmd = "runbook " + runbook;
    for (const auto& a : args) cmd += " " + a;
    INFO(tool.name << ": " << cmd << " (exit " << r.code << ")\n" << r.all());
    if (!before.empty()) {
      CHECK(after == before);
    } else if (!after.empty()) {
      CHECK(after == reference_ddl(tool));
    }
    return r;
  }
  CliResult compat(const std::string& runbook, std::vector<std::string> extra = {}) const {
    extra.push_back("--set");
    extra.push_back("ledger=" + tool.name);
    return run(runbook, extra);
  }
};

// A rollback as an operator runs one: rollback.lua asks for each destructive finding of the
// down scripts (the chains' newest down drops a column) and refuses (exit 3) naming the --ack
// each needs; run again with them. A refusal that names none is returned as it is.
template <typename Run>
CliResult acknowledged(const Run& run, std::vector<std::string> args) {
  auto r = run(args);
  if (r.code != 3) return r;
  const std::string text = r.all(), marker = "pass --ack ";
  bool any = false;
  for (auto at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    const auto from = at + marker.size();
    args.push_back("--ack");
    args.push_back(text.substr(from, text.find_first_of(" \n", from) - from));
    any = true;
  }
  return any ? run(args) : r;
}

std::vector<std::string> names(const Scene& s, std::vector<std::size_t> which) {
  std::vector<std::string> out;
  for (auto i : which) out.push_back(s.m(i).name);
  return sorted(out);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 0. The test's own calculators reproduce the spec's worked examples.
// ---------------------------------------------------------------------------------------------

TEST_CASE("the independent checksum helpers reproduce /tmp/tool-ledgers.md's worked examples", "[cli][tool-ledger]") {
  TempDir dir;
  const std::string t = "CREATE TABLE t (id int);\n";
  CHECK(flyway_crc_of(dir.write("lf.sql", t)) == 92137680);
  CHECK(flyway_crc_of(dir.write("crlf.sql", "CREATE TABLE t (id int);\r\n")) == 92137680);
  CHECK(flyway_crc_of(dir.write("bom.sql", "\xEF\xBB\xBF" + t)) == 92137680);
  CHECK(flyway_crc_of(dir.write("nonl.sql", "CREATE TABLE t (id int);")) == 92137680);
  CHECK(flyway_crc_of(dir.write("two.sql", "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n")) == -956080171);
  CHECK(flyway_crc_of(dir.write("empty.sql", "")) == 0);
  CHECK(flyway_crc_of(dir.write("blank.sql", "\n\n")) == 0);
  CHECK(sha384_of(dir.path() + "/lf.sql") ==
        "e1cc0b49a7d453bb345d9fc52670c0bfd4a694b2befb7061a9bad55916701e1ef4ddd22ee7cb1c80b4317a1b5780422c");
  CHECK(sha256_of(dir.path() + "/lf.sql") == "12c83f983b0c94b9c7010dcc92149589d5fb01a3d32af8f6d699545d95db9040");
}

// ---------------------------------------------------------------------------------------------
// 1. Compatibility mode on a fresh database: the tool's table and rows exactly as the tool's.
// ---------------------------------------------------------------------------------------------

TEST_CASE("--set ledger=TOOL on a fresh database creates and fills each tool's table as the tool does",
          "[cli][tool-ledger]") {
  for (const auto& tool : tools()) {
    DYNAMIC_SECTION(tool.name) {
      Scene s(tool);
      auto r = s.compat("apply.lua", {"--yes"});
      REQUIRE(r.code == 0);
      CHECK(has(r, tool.name + " layout"));
      CHECK(has(r, "applied 3 migration(s)"));
      for (std::size_t i = 0; i < 3; ++i) {
        INFO(s.m(i).name);
        CHECK(s.applied(i));
        if (s.m(i).no_tx) CHECK(has(r, s.m(i).name + " applied in"));
      }
      for (std::size_t i = 0; i < 3; ++i)
        if (s.m(i).no_tx) {
          // It really ran outside a transaction (CREATE INDEX CONCURRENTLY could not otherwise),
          // and it went through the non-transactional bookkeeping path.
          const auto at = r.all().find(s.m(i).name + " applied in");
          REQUIRE(at != std::string::npos);
          CHECK(r.all().substr(at, r.all().find('\n', at) - at).find("outside a transaction") != std::string::npos);
        }

      // The table: the tool's own DDL, column for column, constraint for constraint.
      CHECK(s.ddl() == reference_ddl(tool));
      CHECK(rbtest::psql(s.db, "SELECT column_name, data_type, coalesce(character_maximum_length, 0), is_nullable,"
                               " coalesce(column_default, ''), is_identity FROM information_schema.columns"
                               " WHERE table_schema || '.' || table_name = " + q(tool.table) + " ORDER BY ordinal_position") ==
            [&] {
              TempDatabase ref("rb_tl_ref");
              ref.connect().run_script(tool.ddl);
              return rbtest::psql(ref, "SELECT column_name, data_type, coalesce(character_maximum_length, 0), is_nullable,"
                                       " coalesce(column_default, ''), is_identity FROM information_schema.columns"
                                       " WHERE table_schema || '.' || table_name = " + q(tool.table) +
                                       " ORDER BY ordinal_position");
            }());

      // The rows: what the tool writes for these three migrations.
      CHECK(s.rows() == s.expected(3));
      // runbook's own ledger beside it.
      CHECK(own_ledger(s.db, "public.runbook_ledger") == names(s, {0, 1, 2}));

      // Parity from a second run: up to date, nothing to do.
      auto again = s.compat("apply.lua", {"--dry-run"});
      CHECK(again.code == 0);
      CHECK(has(again, "3 applied, 0 pending, parity PASS"));
      CHECK(s.rows() == s.expected(3));

      if (!tool.down) continue;
      // Rolling back the newest in compatibility mode writes what the tool's own down writes.
      auto back = acknowledged([&](const std::vector<std::string>& a) { return s.compat("rollback.lua", a); }, {"--yes"});
      INFO(back.all());
      CHECK(back.code == 0);
      CHECK_FALSE(s.applied(2));
      CHECK(own_ledger(s.db, "public.runbook_ledger") == names(s, {0, 1}));
      if (tool.name == "flyway") {
        // Flyway's undo (U2__) is recorded as an UNDO_SQL row after the applied ones.
        CHECK(s.rows() == s.expected(3) + "4|2|add a and b|UNDO_SQL|U2__add_a_and_b.sql|" +
                              std::to_string(flyway_crc_of(s.dir.path() + "/migrations/U2__add_a_and_b.sql")) +
                              "|t|t|t\n");
      } else {
        CHECK(s.rows() == s.expected(2));
      }
      auto redo = s.compat("apply.lua", {"--yes"});
      CHECK(redo.code == 0);
      CHECK(has(redo, "applied 1 migration(s)"));
      CHECK(s.applied(2));
      if (tool.name != "flyway") CHECK(s.rows() == s.expected(3));
      CHECK(s.compat("post-verify.lua").code == 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Beside a tool ledger that already exists: only the rest is applied; a migration the
//    application applied by itself afterwards is a parity failure naming it.
// ---------------------------------------------------------------------------------------------

TEST_CASE("--set ledger=TOOL beside an existing tool ledger applies only the rest and notices the application's "
          "own migrations", "[cli][tool-ledger]") {
  for (const auto& tool : tools()) {
    DYNAMIC_SECTION(tool.name) {
      Scene s(tool);
      s.seed(1);
      REQUIRE(s.rows() == s.expected(1));

      auto r = s.compat("apply.lua", {"--yes"});
      REQUIRE(r.code == 0);
      CHECK(has(r, "applied 2 migration(s)"));
      CHECK(own_ledger(s.db, "public.runbook_ledger") == names(s, {1, 2}));
      CHECK(s.applied(1));
      CHECK(s.applied(2));
      CHECK(s.rows() == s.expected(3));

      auto status = s.compat("apply.lua", {"--dry-run"});
      CHECK(status.code == 0);
      CHECK(has(status, "3 applied, 0 pending, parity PASS"));
      CHECK(s.compat("post-verify.lua").code == 0);

      // The application applies a new migration at start-up with the tool itself.
      s.add_file(3);
      rbtest::psql(s.db, s.m(3).up_sql);
      s.sql(tool.record(tool, s.m(3), s.dir));
      const auto own_before = own_ledger(s.db, "public.runbook_ledger");
      const auto rows_before = table_rows(s.db, tool.table);

      for (const char* mode : {"--dry-run", "--yes"}) {
        INFO(mode);
        auto drift = s.compat("apply.lua", {mode});
        CHECK(drift.code != 0);
        CHECK(has(drift, "parity FAIL"));
        CHECK(has(drift, s.m(3).name + " is recorded by " + tool.name));
        CHECK(own_ledger(s.db, "public.runbook_ledger") == own_before);
        CHECK(table_rows(s.db, tool.table) == rows_before);
      }
      auto verify = s.compat("post-verify.lua");
      CHECK(verify.code != 0);
      CHECK(has(verify, s.m(3).name));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 3. The tool's failed states: dirty in runbook with the tool's fix named; resolve writes the
//    tool's own fixed state.
// ---------------------------------------------------------------------------------------------

namespace {
struct FailedState {
  const char* tool;
  std::function<std::string(const Scene&, const Mig&)> sql;  // records `m` failed, as the tool does
  const char* fix;  // what the message must say the tool's users do
};

const std::vector<FailedState>& failed_states() {
  static const std::vector<FailedState> all = {
      {"golang-migrate",
       [](const Scene&, const Mig& m) {
         return "TRUNCATE \"public\".\"schema_migrations\"; INSERT INTO \"public\".\"schema_migrations\" (version, dirty)"
                " VALUES (" + m.key + ", true)";
       },
       "migrate force"},
      {"prisma",
       [](const Scene& s, const Mig& m) {
         return "INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name, logs) VALUES "
                "(gen_random_uuid()::text, " + q(sha256_of(path_of(s.dir, m))) + ", now(), " + q(m.name) +
                ", 'db error: ERROR: relation \"users_id\" already exists')";
       },
       "prisma migrate resolve"},
      {"flyway",
       [](const Scene& s, const Mig& m) {
         return "INSERT INTO \"public\".\"flyway_schema_history\" (\"installed_rank\",\"version\",\"description\",\"type\","
                "\"script\",\"checksum\",\"installed_by\",\"execution_time\",\"success\") SELECT "
                "coalesce(max(installed_rank), 0) + 1, " + q(m.key) + ", " + q(m.description) + ", 'SQL', " +
                q(m.up_file) + ", " + std::to_string(flyway_crc_of(path_of(s.dir, m))) +
                ", current_user, 3, false FROM \"public\".\"flyway_schema_history\"";
       },
       "flyway repair"},
      // sqlx's PostgreSQL driver never writes success = false, but its reader stops on one
      // ("partially applied; fix and remove row"), and runbook reads it as dirty.
      {"sqlx",
       [](const Scene& s, const Mig& m) {
         return "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (" +
                m.key + ", " + q(m.description) + ", FALSE, decode('" + sha384_of(path_of(s.dir, m)) + "', 'hex'), 99)";
       },
       "delete its row"},
  };
  return all;
}

const Tool& tool_named(const std::string& name) {
  for (const auto& t : tools())
    if (t.name == name) return t;
  throw std::logic_error("no tool " + name);
}
}  // namespace

TEST_CASE("a tool's failed state is dirty in compatibility mode, refused, and resolve writes the tool's own fix",
          "[cli][tool-ledger]") {
  for (const auto& f : failed_states()) {
    const Tool& tool = tool_named(f.tool);
    for (const std::string as : {"applied", "rolled-back"}) {
      DYNAMIC_SECTION(tool.name << " resolved as " << as) {
        Scene s(tool);
        s.seed(1);
        s.sql(f.sql(s, s.m(1)));
        // The operator's repair: finish the migration by hand (as=applied) or undo what it
        // left (nothing here, as=rolled-back).
        if (as == "applied") rbtest::psql(s.db, s.m(1).up_sql);
        const auto rows_before = table_rows(s.db, tool.table);
        const auto schema_before = s.db.schema_dump();

        auto refused = s.compat("apply.lua", {"--yes"});
        CHECK(refused.code != 0);
        CHECK(has(refused, s.m(1).name + " is dirty"));
        CHECK(has(refused, f.fix));
        CHECK(table_rows(s.db, tool.table) == rows_before);
        CHECK_FALSE(s.applied(2));
        CHECK(s.db.schema_dump() == schema_before);

        auto resolved = s.compat("resolve.lua", {"--yes", "--set", "migration=" + s.m(1).name, "--set", "as=" + as});
        // Regression (fixed): sqlx, as=applied: resolve fails with 'duplicate key value violates unique constraint
        // "_sqlx_migrations_pkey"': the sqlx module's applied_sql (engine/tool_ledger_sqlx.cpp) is
        // a plain INSERT that never removes the success = false row first (sqlx's own fix,
        // which its failure message even names), unlike the Prisma and Flyway modules.
        REQUIRE(resolved.code == 0);

        // The tool's own fixed state.
        const std::size_t n = as == "applied" ? 2 : 1;
        if (tool.name == "prisma") {
          // The failed attempt is kept, marked rolled back (`prisma migrate resolve`); as=applied
          // adds a finished row of it.
          CHECK(s.db.count("SELECT count(*) FROM _prisma_migrations WHERE migration_name = " + q(s.m(1).name) +
                           " AND finished_at IS NULL AND rolled_back_at IS NOT NULL") == 1);
          CHECK(s.db.count("SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NULL AND rolled_back_at IS NULL") == 0);
          CHECK(rbtest::psql(s.db, "SELECT migration_name, checksum FROM _prisma_migrations WHERE finished_at IS NOT NULL"
                                   " AND rolled_back_at IS NULL ORDER BY migration_name") ==
                [&] {
                  std::string out;
                  for (std::size_t i = 0; i < n; ++i) out += s.m(i).name + "|" + sha256_of(path_of(s.dir, s.m(i))) + "\n";
                  return out;
                }());
        } else {
          // golang-migrate: `migrate force V` (or the previous version); Flyway: `flyway repair`
          // removes the failed row; sqlx: its row deleted.
          // Regression (fixed): flyway, as=rolled-back: the success = false row stays in flyway_schema_history
          // and an UNDO_SQL row is appended after it (removed_sql in engine/tool_ledger_flyway.cpp
          // never deletes failed rows, as `flyway repair` does), so Flyway itself still stops
          // with "Detected failed migration to version 1.1 ... run repair".
          CHECK(s.rows() == s.expected(n));
        }
        auto status = s.compat("apply.lua", {"--dry-run"});
        CHECK(status.code == 0);
        CHECK(has(status, std::to_string(n) + " applied, " + std::to_string(3 - n) + " pending, parity PASS"));

        // And the chain goes on from there.
        auto rest = s.compat("apply.lua", {"--yes"});
        CHECK(rest.code == 0);
        CHECK(has(rest, "applied " + std::to_string(3 - n) + " migration(s)"));
        CHECK(s.applied(1));
        CHECK(s.applied(2));
        // Regression (fixed): flyway, as=rolled-back, as a consequence of the bug above: the UNDO_SQL row of a
        // migration that never succeeded stays in the history (ranks 1, 3, 4, 5 instead of 1..3).
        CHECK(s.rows() == s.expected(3));  // Prisma: the rows not rolled back
      }
    }
  }
}

TEST_CASE("a migration that fails outside a transaction in compatibility mode leaves the tool's own failed state",
          "[cli][tool-ledger]") {
  for (const auto& f : failed_states()) {
    const Tool& tool = tool_named(f.tool);
    DYNAMIC_SECTION(tool.name) {
      Scene s(tool);
      const Mig& m = s.m(1);
      REQUIRE(m.no_tx);
      // The second migration (CREATE INDEX CONCURRENTLY, outside a transaction) names a
      // column that does not exist.
      const std::string good = m.files.front().second;
      std::string bad = good;
      bad.replace(bad.find("(id)"), 4, "(nope)");
      s.dir.write("migrations/" + m.files.front().first, bad);

      auto failed = s.compat("apply.lua", {"--yes"});
      CHECK(failed.code != 0);
      CHECK(s.applied(0));
      CHECK_FALSE(s.applied(1));
      CHECK(rbtest::psql(s.db, "SELECT filename, status FROM public.runbook_ledger ORDER BY filename") ==
            sorted_lines({s.m(0).name + "|applied", m.name + "|dirty"}));
      // What the tool itself leaves after such a failure (/tmp/tool-ledgers.md).
      if (tool.name == "golang-migrate") {
        CHECK(s.rows() == m.key + "|t\n");  // SetVersion(v, dirty = true) before the body ran
      } else if (tool.name == "prisma") {
        CHECK(rbtest::psql(s.db, "SELECT checksum, logs LIKE '%nope%', applied_steps_count, started_at IS NOT NULL"
                                 " FROM _prisma_migrations WHERE migration_name = " + q(m.name) +
                                 " AND finished_at IS NULL AND rolled_back_at IS NULL") ==
              sha256_of(path_of(s.dir, m)) + "|t|0|t\n");
        CHECK(s.rows() == s.expected(1) + m.name + "|" + sha256_of(path_of(s.dir, m)) + "|f|f|0|t|\n");
      } else if (tool.name == "flyway") {
        CHECK(s.rows() == s.expected(1) + "2|1.1|t index|SQL|V1_1__t_index.sql|" +
                              std::to_string(flyway_crc_of(path_of(s.dir, m))) + "|t|t|f\n");
      } else {
        CHECK(s.rows() == s.expected(1));  // sqlx on PostgreSQL: no row for a failed no_tx migration
      }

      auto refused = s.compat("apply.lua", {"--yes"});
      CHECK(refused.code != 0);
      CHECK(has(refused, m.name + " is dirty"));
      CHECK_FALSE(s.applied(2));

      // Nothing of it stayed: resolve it as rolled back, fix the file, apply again.
      auto resolved = s.compat("resolve.lua", {"--yes", "--set", "migration=" + m.name, "--set", "as=rolled-back"});
      CHECK(resolved.code == 0);
      // Regression (fixed): flyway: the success = false row stays (see the test above), so Flyway would still
      // refuse to migrate after runbook's resolve.
      CHECK(s.db.count("SELECT count(*) FROM " + tool.table + (tool.name == "flyway" ? " WHERE NOT success" :
                        tool.name == "golang-migrate" ? " WHERE dirty" : tool.name == "prisma" ?
                        " WHERE finished_at IS NULL AND rolled_back_at IS NULL" : " WHERE NOT success")) == 0);
      s.dir.write("migrations/" + m.files.front().first, good);
      auto rest = s.compat("apply.lua", {"--yes"});
      CHECK(rest.code == 0);
      CHECK(s.applied(1));
      CHECK(s.applied(2));
      if (tool.name != "flyway") CHECK(s.rows() == s.expected(3));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. The default refuses a database another tool migrates; adopt.lua baselines from it.
// ---------------------------------------------------------------------------------------------

TEST_CASE("the default ledger refuses each tool's database, naming both ways out, and changes nothing",
          "[cli][tool-ledger]") {
  for (const auto& tool : tools()) {
    DYNAMIC_SECTION(tool.name) {
      Scene s(tool);
      s.seed(2);
      const auto rows_before = table_rows(s.db, tool.table);
      const auto schema_before = s.db.schema_dump();
      for (const auto& [runbook, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
               {"apply.lua", {"--yes"}}, {"apply.lua", {"--dry-run"}}, {"post-verify.lua", {}},
               {"rollback.lua", {"--yes"}}}) {
        INFO(runbook);
        auto r = s.run(runbook, args);
        // post-verify.lua turns every error into a FAIL check and exits 4 (verification failed).
        CHECK(r.code == (runbook == "post-verify.lua" ? 4 : 2));
        CHECK(has(r, "migrated by " + tool.name + ":") != has(r, "looks like " + tool.name + "'s own table"));
        CHECK(has(r, "--set ledger=" + tool.name));
        CHECK(has(r, "adopt.lua --set tool=" + tool.name));
        CHECK(table_rows(s.db, tool.table) == rows_before);
        CHECK(s.db.schema_dump() == schema_before);
        CHECK_FALSE(s.applied(2));
      }
    }
  }
}

TEST_CASE("adopt.lua baselines runbook's ledger from each tool's, and apply then runs only the pending migrations",
          "[cli][tool-ledger]") {
  for (const auto& tool : tools()) {
    DYNAMIC_SECTION(tool.name) {
      Scene s(tool);
      s.seed(2);
      const auto rows_before = table_rows(s.db, tool.table);

      auto dry = s.run("adopt.lua", {"--dry-run", "--set", "tool=" + tool.name});
      CHECK(dry.code == 0);
      CHECK_FALSE(table_exists(s.db, tool.adopt_ledger));

      auto adopted = s.run("adopt.lua", {"--yes", "--set", "tool=" + tool.name});
      REQUIRE(adopted.code == 0);
      CHECK(own_ledger(s.db, tool.adopt_ledger) == names(s, {0, 1}));
      CHECK(table_rows(s.db, tool.table) == rows_before);
      CHECK_FALSE(s.applied(2));

      std::vector<std::string> args{"--yes"};
      if (tool.adopt_ledger != "public.schema_migrations") {
        args.push_back("--set");
        args.push_back("ledger=" + tool.adopt_ledger);
      }
      auto applied = s.run("apply.lua", args);
      CHECK(applied.code == 0);
      CHECK(has(applied, "applied 1 migration(s)"));
      CHECK(s.applied(2));
      CHECK(own_ledger(s.db, tool.adopt_ledger) == names(s, {0, 1, 2}));
      CHECK(table_rows(s.db, tool.table) == rows_before);  // the tool's table is left as it was
    }
  }
}

TEST_CASE("adopt.lua refuses a tool ledger whose checksum no longer matches the file, and writes nothing",
          "[cli][tool-ledger]") {
  for (const char* name : {"sqlx", "prisma", "flyway"}) {
    const Tool& tool = tool_named(name);
    DYNAMIC_SECTION(tool.name) {
      Scene s(tool);
      s.seed(2);
      // The first migration's file is edited after the tool applied it.
      s.dir.write("migrations/" + s.m(0).up_file, s.m(0).files.front().second + "-- edited afterwards\n");
      const auto rows_before = table_rows(s.db, tool.table);
      const auto schema_before = s.db.schema_dump();

      auto r = s.run("adopt.lua", {"--yes", "--set", "tool=" + tool.name});
      CHECK(r.code != 0);
      CHECK(has(r, s.m(0).name + " was edited"));
      CHECK(has(r, "Nothing was written"));
      CHECK_FALSE(table_exists(s.db, tool.adopt_ledger));
      CHECK(table_rows(s.db, tool.table) == rows_before);
      CHECK(s.db.schema_dump() == schema_before);

      // Compatibility mode sees the same edit as drift.
      auto compat = s.compat("apply.lua", {"--dry-run"});
      CHECK(compat.code != 0);
      CHECK(has(compat, s.m(0).name + " was edited after " + tool.name + " applied it"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Every tool x every mode: the tool's table is never altered or dropped (Scene::run checks
//    its pg_dump definition before and after each run).
// ---------------------------------------------------------------------------------------------

TEST_CASE("no mode ever alters or drops another tool's table", "[cli][tool-ledger]") {
  for (const auto& tool : tools()) {
    DYNAMIC_SECTION(tool.name) {
      const std::string ledger = "ledger=" + tool.name, as_tool = "tool=" + tool.name;
      {
        // A database the tool migrates, then kept in step by runbook.
        Scene s(tool);
        s.seed(1);
        const std::string ddl = s.ddl();
        REQUIRE(ddl == reference_ddl(tool));
        s.run("apply.lua", {"--yes"});                       // the default's refusal
        s.run("apply.lua", {"--dry-run"});
        s.run("post-verify.lua", {});
        s.compat("apply.lua", {"--dry-run"});                // compatibility mode
        CHECK(s.compat("apply.lua", {"--yes"}).code == 0);
        CHECK(s.compat("post-verify.lua").code == 0);
        if (tool.down) {
          CHECK(acknowledged([&](const std::vector<std::string>& a) { return s.compat("rollback.lua", a); }, {"--yes"}).code == 0);
          CHECK(s.compat("rollback.lua", {"--dry-run"}).code == 0);
          CHECK(s.compat("apply.lua", {"--yes"}).code == 0);
        }
        CHECK(s.compat("resolve.lua", {"--yes", "--set", "migration=" + s.m(2).name, "--set", "as=rolled-back"}).code == 0);
        CHECK(s.compat("resolve.lua", {"--yes", "--set", "migration=" + s.m(2).name, "--set", "as=applied"}).code == 0);
        s.run("adopt.lua", {"--dry-run", "--set", as_tool});  // adopt beside compatibility mode
        CHECK(s.ddl() == ddl);
      }
      {
        // A database the tool migrates, adopted by runbook.
        Scene s(tool);
        s.seed(2);
        const std::string ddl = s.ddl();
        s.run("adopt.lua", {"--dry-run", "--set", as_tool});
        CHECK(s.run("adopt.lua", {"--yes", "--set", as_tool}).code == 0);
        std::vector<std::string> own;
        if (tool.adopt_ledger != "public.schema_migrations") own = {"--set", "ledger=" + tool.adopt_ledger};
        auto with_own = [&](std::vector<std::string> a) {
          a.insert(a.end(), own.begin(), own.end());
          return a;
        };
        CHECK(s.run("apply.lua", with_own({"--yes"})).code == 0);
        CHECK(s.run("post-verify.lua", with_own({})).code == 0);
        if (tool.down)
          CHECK(acknowledged([&](const std::vector<std::string>& a) { return s.run("rollback.lua", a); }, with_own({"--yes"})).code == 0);
        CHECK(s.ddl() == ddl);
      }
      {
        // A fresh database: runbook creates the tool's table, exactly as the tool would.
        Scene s(tool);
        CHECK(s.compat("apply.lua", {"--yes"}).code == 0);
        CHECK(s.ddl() == reference_ddl(tool));
        if (tool.down)
          CHECK(acknowledged([&](const std::vector<std::string>& a) { return s.compat("rollback.lua", a); }, {"--yes"}).code == 0);
        CHECK(s.ddl() == reference_ddl(tool));
      }
    }
  }
}
