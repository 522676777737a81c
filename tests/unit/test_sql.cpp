#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/errors.hpp"
#include "engine/sql.hpp"

using rb::sql::analyze;
using rb::sql::Finding;
using rb::sql::lint;
using rb::sql::Script;

namespace {

std::string reason_of(const std::string& sql, int version = 150000) {
  Script s = analyze(sql, "t.sql", version);
  REQUIRE(s.statements.size() == 1);
  CHECK(s.needs_no_transaction == !s.statements[0].no_transaction_reason.empty());
  return s.statements[0].no_transaction_reason;
}

std::vector<Finding> lint_sql(const std::string& sql, rb::sql::LintContext ctx = {}) {
  return lint(analyze(sql, "m.sql"), "m.sql", ctx);
}

std::vector<std::string> rules_of(const std::string& sql) {
  std::vector<std::string> rules;
  for (const auto& f : lint_sql(sql)) rules.push_back(f.rule);
  return rules;
}

bool has_rule(const std::string& sql, const std::string& rule) {
  auto rules = rules_of(sql);
  return std::find(rules.begin(), rules.end(), rule) != rules.end();
}

Finding only_finding(const std::vector<Finding>& findings) {
  REQUIRE(findings.size() == 1);
  return findings[0];
}

std::string syntax_error(const std::string& sql, const std::string& file = "bad.sql") {
  try {
    analyze(sql, file);
  } catch (const rb::ConfigError& e) {
    return e.what();
  }
  FAIL("no syntax error for: " << sql);
  return "";
}

}  // namespace

TEST_CASE("statements are split with their lines and byte ranges", "[sql]") {
  const std::string sql =
      "-- migration 001\n"                                   // line 1
      "\n"                                                   // line 2
      "/* a block comment; with a semicolon */\n"            // line 3
      "CREATE TABLE a (id int, note text DEFAULT 'x;y');\n"  // line 4
      "\n"                                                   // line 5
      "  -- leading comment of the next one\n"               // line 6
      "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"  // line 7
      "BEGIN\n"
      "  PERFORM 1; -- not the end\n"
      "  RETURN 2;\n"
      "END;\n"
      "$body$;\n"
      "DO $$ BEGIN RAISE NOTICE 'a;b'; END $$;\n"            // line 13
      "INSERT INTO a VALUES (1, E'it''s; \\' fine'); SELECT /* ; */ 1;\n"  // line 14
      "SELECT 'no semicolon at the end'\n";                  // line 15
  Script s = analyze(sql, "001.sql");
  REQUIRE(s.statements.size() == 6);
  CHECK(s.statements[0].line == 4);
  CHECK(s.statements[0].kind == "CreateStmt");
  // psql keeps a leading block comment and the ";"; it drops -- comments before a statement.
  CHECK(s.statements[0].text == "/* a block comment; with a semicolon */\nCREATE TABLE a (id int, note text DEFAULT 'x;y');");
  CHECK(s.statements[1].line == 7);
  CHECK(s.statements[1].kind == "CreateFunctionStmt");
  CHECK(s.statements[1].text.rfind("CREATE FUNCTION", 0) == 0);
  CHECK(s.statements[1].text.size() > 2);
  CHECK(s.statements[1].text.substr(s.statements[1].text.size() - 7) == "$body$;");
  CHECK(s.statements[2].line == 13);
  CHECK(s.statements[2].kind == "DoStmt");
  CHECK(s.statements[2].text == "DO $$ BEGIN RAISE NOTICE 'a;b'; END $$;");
  CHECK(s.statements[3].line == 14);
  CHECK(s.statements[3].kind == "InsertStmt");
  CHECK(s.statements[4].line == 14);
  CHECK(s.statements[4].text == "SELECT /* ; */ 1;");
  CHECK(s.statements[5].line == 15);
  CHECK(s.statements[5].text == "SELECT 'no semicolon at the end'");
  for (const auto& st : s.statements) {
    CHECK(sql.substr(st.offset, st.length) == st.text);
    CHECK_FALSE(st.transaction_control);
    CHECK(st.no_transaction_reason.empty());
  }
  CHECK_FALSE(s.manages_own_transaction);
  CHECK_FALSE(s.needs_no_transaction);
}

TEST_CASE("empty input and comment-only files have no statements", "[sql]") {
  CHECK(analyze("", "e.sql").statements.empty());
  CHECK(analyze("-- nothing\n/* at /* all */ */\n", "e.sql").statements.empty());
  CHECK(analyze(";;\n;", "e.sql").statements.empty());
}

TEST_CASE("byte offsets and lines stay right after multibyte text", "[sql]") {
  const std::string sql = "COMMENT ON TABLE a IS 'héllo — ünïcode';\nSELECT 1;\n";
  Script s = analyze(sql, "u.sql");
  REQUIRE(s.statements.size() == 2);
  CHECK(s.statements[1].text == "SELECT 1;");
  CHECK(s.statements[1].line == 2);
  CHECK(sql.substr(s.statements[0].offset, s.statements[0].length) ==
        "COMMENT ON TABLE a IS 'héllo — ünïcode';");
}

TEST_CASE("a -- comment before the ; on the next line stays inside its own statement", "[sql]") {
  // The statement texts are psql's: each ends at its own ";", so sending them one after
  // another can never join two statements.
  const std::string sql =
      "CREATE TABLE a (id int) -- the table\n"
      ";\n"
      "CREATE TABLE b (id int); -- trailing\n"
      "-- before c\n"
      "CREATE TABLE c (id int) -- no final newline, no ;";
  Script s = analyze(sql, "t.sql");
  REQUIRE(s.statements.size() == 3);
  CHECK(s.statements[0].text == "CREATE TABLE a (id int) -- the table\n;");
  CHECK(s.statements[1].text == "CREATE TABLE b (id int);");
  CHECK(s.statements[2].text == "CREATE TABLE c (id int) -- no final newline, no ;");
  CHECK(s.statements[2].line == 5);
  std::string joined;
  for (const auto& st : s.statements) joined += st.text + "\n";
  CHECK(analyze(joined, "joined.sql").statements.size() == 3);
}

TEST_CASE("line_of counts lines from 1", "[sql]") {
  CHECK(rb::sql::line_of("a\nb\nc", 0) == 1);
  CHECK(rb::sql::line_of("a\nb\nc", 2) == 2);
  CHECK(rb::sql::line_of("a\nb\nc", 4) == 3);
  CHECK(rb::sql::line_of("a\nb\nc", 99) == 3);
}

TEST_CASE("statements that refuse a transaction block are detected", "[sql]") {
  CHECK(reason_of("CREATE INDEX CONCURRENTLY i ON t (a)") == "CREATE INDEX CONCURRENTLY");
  CHECK(reason_of("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)") ==
        "CREATE INDEX CONCURRENTLY");
  CHECK(reason_of("DROP INDEX CONCURRENTLY IF EXISTS i") == "DROP INDEX CONCURRENTLY");
  CHECK(reason_of("REINDEX INDEX CONCURRENTLY i") == "REINDEX CONCURRENTLY");
  CHECK(reason_of("REINDEX (CONCURRENTLY) TABLE t") == "REINDEX CONCURRENTLY");
  CHECK(reason_of("REINDEX SCHEMA s") == "REINDEX SCHEMA");
  CHECK(reason_of("REINDEX DATABASE d") == "REINDEX DATABASE");
  CHECK(reason_of("REINDEX SYSTEM d") == "REINDEX SYSTEM");
  CHECK(reason_of("VACUUM") == "VACUUM");
  CHECK(reason_of("VACUUM ANALYZE t") == "VACUUM");
  CHECK(reason_of("VACUUM (FULL, VERBOSE) t") == "VACUUM");
  CHECK(reason_of("CREATE DATABASE d") == "CREATE DATABASE");
  CHECK(reason_of("DROP DATABASE IF EXISTS d") == "DROP DATABASE");
  CHECK(reason_of("CREATE TABLESPACE ts LOCATION '/srv/ts'") == "CREATE TABLESPACE");
  CHECK(reason_of("DROP TABLESPACE ts") == "DROP TABLESPACE");
  CHECK(reason_of("ALTER SYSTEM SET work_mem = '64MB'") == "ALTER SYSTEM");
  CHECK(reason_of("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p").rfind(
            "CREATE SUBSCRIPTION", 0) == 0);
  CHECK(reason_of("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p WITH (create_slot = 1)") !=
        "");
  CHECK(reason_of("DROP SUBSCRIPTION s") == "DROP SUBSCRIPTION");
  CHECK(reason_of("DISCARD ALL") == "DISCARD ALL");
  CHECK(reason_of("ALTER TABLE p DETACH PARTITION c CONCURRENTLY") ==
        "ALTER TABLE ... DETACH PARTITION CONCURRENTLY");
  CHECK(reason_of("CLUSTER") != "");
  CHECK(reason_of("ALTER DATABASE d SET TABLESPACE ts") != "");
  CHECK(reason_of("ALTER SUBSCRIPTION s REFRESH PUBLICATION") != "");
  CHECK(reason_of("ALTER SUBSCRIPTION s ADD PUBLICATION p") != "");
  CHECK(reason_of("COMMIT PREPARED 'x'") == "COMMIT PREPARED");
}

TEST_CASE("ordinary statements may run in a transaction block", "[sql]") {
  CHECK(reason_of("ANALYZE t") == "");
  CHECK(reason_of("ANALYZE") == "");
  CHECK(reason_of("CREATE INDEX i ON t (a)") == "");
  CHECK(reason_of("DROP INDEX i") == "");
  CHECK(reason_of("REINDEX INDEX i") == "");
  CHECK(reason_of("REINDEX TABLE t") == "");
  CHECK(reason_of("REINDEX (CONCURRENTLY false) INDEX i") == "");
  CHECK(reason_of("CREATE TABLE t (id bigint PRIMARY KEY)") == "");
  CHECK(reason_of("ALTER TABLE t ADD COLUMN a int") == "");
  CHECK(reason_of("ALTER TABLE p DETACH PARTITION c") == "");
  CHECK(reason_of("DROP TABLE t") == "");
  CHECK(reason_of("CREATE SCHEMA s") == "");
  CHECK(reason_of("CREATE EXTENSION pg_trgm") == "");
  CHECK(reason_of("DISCARD PLANS") == "");
  CHECK(reason_of("CLUSTER t USING i") == "");
  CHECK(reason_of("ALTER DATABASE d SET work_mem = '1MB'") == "");
  CHECK(reason_of("REFRESH MATERIALIZED VIEW CONCURRENTLY m") == "");
  CHECK(reason_of("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p WITH (create_slot = false)") ==
        "");
  CHECK(reason_of("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p WITH (connect = false)") == "");
  CHECK(reason_of("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p WITH (create_slot = 0)") == "");
  CHECK(reason_of("ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false)") == "");
  CHECK(reason_of("ALTER SUBSCRIPTION s DISABLE") == "");
  CHECK(reason_of("SELECT 'VACUUM; CREATE INDEX CONCURRENTLY x ON y (z)'") == "");
  CHECK(reason_of("DO $$ BEGIN EXECUTE 'VACUUM'; END $$") == "");
}

TEST_CASE("ALTER TYPE ... ADD VALUE refuses a transaction block only before PostgreSQL 12", "[sql]") {
  CHECK(reason_of("ALTER TYPE mood ADD VALUE 'meh'", 110000) != "");
  CHECK(reason_of("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' AFTER 'ok'", 110022) != "");
  CHECK(reason_of("ALTER TYPE mood ADD VALUE 'meh'", 120000) == "");
  CHECK(reason_of("ALTER TYPE mood ADD VALUE 'meh'") == "");
  CHECK(reason_of("ALTER TYPE mood RENAME VALUE 'meh' TO 'fine'", 110000) == "");
}

TEST_CASE("a file with its own BEGIN/COMMIT manages its transaction", "[sql]") {
  Script s = analyze("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n", "t.sql");
  REQUIRE(s.statements.size() == 3);
  CHECK(s.manages_own_transaction);
  CHECK(s.statements[0].transaction_control);
  CHECK(s.statements[0].kind == "TransactionStmt");
  CHECK_FALSE(s.statements[1].transaction_control);
  CHECK(s.statements[2].transaction_control);
  CHECK(s.statements[2].line == 3);

  CHECK(analyze("START TRANSACTION ISOLATION LEVEL SERIALIZABLE; SELECT 1; END;", "t.sql")
            .manages_own_transaction);
  CHECK(analyze("SELECT 1;\nCOMMIT;", "t.sql").manages_own_transaction);
  CHECK(analyze("BEGIN; SELECT 1; ROLLBACK;", "t.sql").manages_own_transaction);

  Script plain = analyze("CREATE TABLE a (id int);\nSELECT 'BEGIN; COMMIT;';", "t.sql");
  CHECK_FALSE(plain.manages_own_transaction);
  CHECK_FALSE(plain.statements[1].transaction_control);

  Script savepoints = analyze("SAVEPOINT a; RELEASE SAVEPOINT a;", "t.sql");
  CHECK(savepoints.statements[0].transaction_control);
  CHECK_FALSE(savepoints.manages_own_transaction);
}

TEST_CASE("needs_no_transaction and extensions_created summarise the file", "[sql]") {
  Script s = analyze(
      "CREATE EXTENSION IF NOT EXISTS pg_trgm;\n"
      "CREATE EXTENSION \"uuid-ossp\" WITH SCHEMA public;\n"
      "CREATE INDEX CONCURRENTLY i ON t USING gin (name gin_trgm_ops);\n",
      "t.sql");
  CHECK(s.needs_no_transaction);
  CHECK(s.extensions_created == std::vector<std::string>{"pg_trgm", "uuid-ossp"});
  CHECK(s.statements[2].no_transaction_reason == "CREATE INDEX CONCURRENTLY");
  CHECK(s.statements[2].line == 3);
}

TEST_CASE("a syntax error names the file and the line", "[sql]") {
  std::string msg = syntax_error("CREATE TABLE a (id int);\n\n-- fine so far\nSELEC 1;\n", "003_x.sql");
  CHECK(msg.rfind("003_x.sql:4: syntax error: ", 0) == 0);
  CHECK(msg.find("SELEC") != std::string::npos);
  CHECK(msg.find("(near \"SELEC 1;\")") != std::string::npos);

  // The error position is in characters; multibyte text before it must not shift the line.
  msg = syntax_error("SELECT 'ééééééééééééééééééééé';\nSELECT 1;\nSELECT 2 FROM WHERE;\n");
  CHECK(msg.rfind("bad.sql:3: syntax error: ", 0) == 0);
  CHECK(msg.find("near \"WHERE;\"") != std::string::npos);

  // At the end of the input the line is the last one with text on it.
  msg = syntax_error("SELECT 1;\nSELECT (1\n\n\n");
  CHECK(msg.rfind("bad.sql:2: syntax error: ", 0) == 0);
  CHECK(msg.find("end of input") != std::string::npos);
  CHECK(msg.find("near \"SELECT (1\"") != std::string::npos);

  msg = syntax_error("SELECT 1;\nSELECT 'unterminated\n");
  CHECK(msg.rfind("bad.sql:2: syntax error: ", 0) == 0);

  msg = syntax_error("SELECT 1;\n\\connect other\nSELECT 2;\n");
  CHECK(msg.rfind("bad.sql:2: ", 0) == 0);
  CHECK(msg.find("psql meta-command") != std::string::npos);

  CHECK_THROWS_AS(analyze(std::string("SELECT 1;\0", 10), "nul.sql"), rb::ConfigError);
}

// ---- Lint ------------------------------------------------------------------------------------

TEST_CASE("lint: drop-table, drop-column, drop-schema are destructive", "[sql][lint]") {
  const Finding f = only_finding(lint_sql("SELECT 1;\nDROP TABLE IF EXISTS public.users CASCADE;"));
  CHECK(f.rule == "drop-table");
  CHECK(f.file == "m.sql");
  CHECK(f.line == 2);
  CHECK(f.destructive);
  CHECK(f.severity == "warning");
  CHECK(f.message.find("public.users") != std::string::npos);

  CHECK(has_rule("ALTER TABLE users DROP COLUMN email", "drop-column"));
  CHECK(has_rule("DROP SCHEMA legacy CASCADE", "drop-schema"));
  CHECK(lint_sql("DROP SCHEMA legacy CASCADE")[0].destructive);

  // Safe variants.
  CHECK(rules_of("CREATE TABLE tmp (id int);\nDROP TABLE tmp;").empty());
  CHECK(rules_of("CREATE TABLE tmp (id int, x int);\nALTER TABLE tmp DROP COLUMN x;").empty());
  CHECK(rules_of("DROP INDEX CONCURRENTLY users_email_idx").empty());
  CHECK(rules_of("DROP VIEW v").empty());
  CHECK(rules_of("ALTER TABLE users DROP CONSTRAINT users_email_key").empty());
  // IF NOT EXISTS may have found an existing table: it is not new.
  CHECK(has_rule("CREATE TABLE IF NOT EXISTS t (id int);\nDROP TABLE t;", "drop-table"));
}

TEST_CASE("lint: truncate, delete and update without WHERE are destructive", "[sql][lint]") {
  const Finding t = only_finding(lint_sql("TRUNCATE audit_log, sessions"));
  CHECK(t.rule == "truncate");
  CHECK(t.destructive);

  const Finding d = only_finding(lint_sql("DELETE FROM sessions"));
  CHECK(d.rule == "delete-without-where");
  CHECK(d.destructive);
  CHECK(has_rule("WITH gone AS (DELETE FROM sessions RETURNING id) SELECT count(*) FROM gone",
                 "delete-without-where"));

  const Finding u = only_finding(lint_sql("\n\nUPDATE users SET active = false"));
  CHECK(u.rule == "update-without-where");
  CHECK(u.destructive);
  CHECK(u.line == 3);

  CHECK(rules_of("DELETE FROM sessions WHERE expires_at < now()").empty());
  CHECK(rules_of("UPDATE users SET active = false WHERE last_login < now() - interval '1 year'")
            .empty());
  CHECK(rules_of("CREATE TABLE staging AS SELECT * FROM users;\nDELETE FROM staging;\n"
                 "UPDATE staging SET active = true;\nTRUNCATE staging;")
            .empty());
  CHECK(rules_of("CREATE RULE r AS ON DELETE TO a DO INSTEAD DELETE FROM b WHERE b.id = old.id")
            .empty());
}

TEST_CASE("lint: create-index-not-concurrently on existing tables only", "[sql][lint]") {
  const Finding f = only_finding(lint_sql("CREATE INDEX users_email_idx ON users (email)"));
  CHECK(f.rule == "create-index-not-concurrently");
  CHECK_FALSE(f.destructive);
  CHECK(f.severity == "warning");

  CHECK(rules_of("CREATE INDEX CONCURRENTLY users_email_idx ON users (email)").empty());
  CHECK(rules_of("CREATE TABLE orders (id bigint, user_id bigint);\n"
                 "CREATE INDEX orders_user_idx ON orders (user_id);")
            .empty());
  CHECK(rules_of("CREATE TABLE app.orders (id bigint);\nCREATE INDEX ON orders (id);").empty());
  CHECK(has_rule("CREATE TABLE app.orders (id bigint);\nCREATE INDEX ON billing.orders (id);",
                 "create-index-not-concurrently"));
  // Created after the index: the index was built on the existing table.
  CHECK(has_rule("CREATE INDEX i ON t (a);\nCREATE TABLE t2 (a int);", "create-index-not-concurrently"));

  rb::sql::LintContext ctx;
  ctx.new_tables = {"public.users"};
  CHECK(lint_sql("CREATE INDEX users_email_idx ON users (email)", ctx).empty());
}

TEST_CASE("lint: add-column-not-null-without-default", "[sql][lint]") {
  const Finding f = only_finding(lint_sql("ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL"));
  CHECK(f.rule == "add-column-not-null-without-default");
  CHECK_FALSE(f.destructive);

  CHECK(rules_of("ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL DEFAULT 0").empty());
  CHECK(rules_of("ALTER TABLE users ADD COLUMN tenant_id bigint").empty());
  CHECK(rules_of("ALTER TABLE users ADD COLUMN id2 bigserial NOT NULL").empty());
  CHECK(rules_of("ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS IDENTITY").empty());
  CHECK(rules_of("CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN x int NOT NULL;").empty());
}

TEST_CASE("lint: alter-column-type rewrites the table", "[sql][lint]") {
  const Finding f = only_finding(lint_sql("ALTER TABLE users ALTER COLUMN id TYPE bigint"));
  CHECK(f.rule == "alter-column-type");
  CHECK(f.message.find("rewrite") != std::string::npos);

  CHECK(rules_of("ALTER TABLE users ALTER COLUMN name SET DEFAULT ''").empty());
  CHECK(rules_of("CREATE TABLE t (id int);\nALTER TABLE t ALTER COLUMN id TYPE bigint;").empty());
}

TEST_CASE("lint: foreign keys and checks without NOT VALID", "[sql][lint]") {
  const Finding fk = only_finding(lint_sql(
      "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)"));
  CHECK(fk.rule == "add-foreign-key-or-check-without-not-valid");
  CHECK(fk.message.find("users") != std::string::npos);
  CHECK(has_rule("ALTER TABLE orders ADD CHECK (total >= 0)",
                 "add-foreign-key-or-check-without-not-valid"));

  CHECK(rules_of("ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
                 "REFERENCES users (id) NOT VALID;\n"
                 "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;")
            .empty());
  CHECK(rules_of("ALTER TABLE orders ADD CONSTRAINT total_ok CHECK (total >= 0) NOT VALID").empty());
  CHECK(rules_of("CREATE TABLE orders (id int, user_id int);\n"
                 "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id);")
            .empty());
}

TEST_CASE("lint: concurrently-in-transaction", "[sql][lint]") {
  const Finding f = only_finding(lint_sql(
      "BEGIN;\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCOMMIT;\n"));
  CHECK(f.rule == "concurrently-in-transaction");
  CHECK(f.severity == "error");
  CHECK(f.line == 2);
  CHECK(f.message.find("line 1") != std::string::npos);

  CHECK(has_rule("START TRANSACTION;\nVACUUM users;\nCOMMIT;", "concurrently-in-transaction"));

  CHECK(rules_of("CREATE INDEX CONCURRENTLY users_email_idx ON users (email);").empty());
  // After the file's own COMMIT, the statement is outside the block.
  CHECK(rules_of("BEGIN;\nSELECT 1;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON users (email);").empty());
}

TEST_CASE("lint: create-extension is a warning naming the extension", "[sql][lint]") {
  const Finding f = only_finding(lint_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm"));
  CHECK(f.rule == "create-extension");
  CHECK(f.severity == "warning");
  CHECK_FALSE(f.destructive);
  CHECK(f.message.find("pg_trgm") != std::string::npos);
  CHECK(rules_of("DROP EXTENSION IF EXISTS pg_trgm; ALTER EXTENSION pg_trgm UPDATE").empty());
}

TEST_CASE("lint: a safe migration has no findings", "[sql][lint]") {
  CHECK(rules_of("CREATE TABLE accounts (\n"
                 "  id bigserial PRIMARY KEY,\n"
                 "  owner_id bigint NOT NULL REFERENCES users (id),\n"
                 "  balance numeric NOT NULL CHECK (balance >= 0)\n"
                 ");\n"
                 "CREATE INDEX accounts_owner_idx ON accounts (owner_id);\n"
                 "ALTER TABLE accounts ADD COLUMN closed_at timestamptz;\n"
                 "INSERT INTO accounts (owner_id, balance) SELECT id, 0 FROM users;\n"
                 "UPDATE users SET has_account = true WHERE id IN (SELECT owner_id FROM accounts);\n")
            .empty());
}

// ---- Scaling: lines counted incrementally, big files parsed in pieces --------------------------

namespace {

struct Expected {
  std::string text, kind;
  int line = 0, text_line = 0;
};

// A file of `n` statements of every shape that moves line numbers: multi-line statements,
// -- and block comments before them, strings and dollar quotes holding ";" and newlines, CRLF,
// a CREATE RULE and a BEGIN ATOMIC body with ";" inside, several statements on one line.
// Returns the SQL; `out` gets each statement's text, kind and lines as the file was written.
std::string generated_file(int n, std::vector<Expected>& out) {
  std::string sql;
  int line = 1;
  auto put = [&](const std::string& s) {
    sql += s;
    line += static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  };
  static const char* separators[] = {"\n", "\r\n", "\n\n", "  ", "\n-- between\n"};
  for (int i = 0; i < n; ++i) {
    const std::string id = std::to_string(i);
    Expected e;
    switch (i % 8) {
      case 0:
        e = {"INSERT INTO t VALUES (" + id + ", 'a;b\nc');", "InsertStmt"};
        break;
      case 1:
        put("-- update " + id + "\n");
        e = {"UPDATE t SET v = 1\nWHERE id = " + id + ";", "UpdateStmt"};
        break;
      case 2: {
        // A leading block comment is part of the text; the first token is a line below it.
        e = {"/* block\n   comment; " + id + " */ SELECT " + id + ";", "SelectStmt", line + 1, line};
        put(e.text);
        out.push_back(e);
        put(separators[i % 5]);
        continue;
      }
      case 3:
        e = {"CREATE FUNCTION f" + id + "() RETURNS int LANGUAGE plpgsql AS $fn$\nBEGIN\n  RETURN " + id +
                 "; -- ;\nEND\n$fn$;",
             "CreateFunctionStmt"};
        break;
      case 4:
        e = {"INSERT INTO t\r\nVALUES (" + id + ");", "InsertStmt"};
        break;
      case 5:
        e = {"CREATE RULE r" + id + " AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));",
             "RuleStmt"};
        break;
      case 6:
        e = {"CREATE FUNCTION g" + id + "() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT " + id +
                 ";\nEND;",
             "CreateFunctionStmt"};
        break;
      default:
        e = {"DELETE FROM t;", "DeleteStmt"};
        break;
    }
    e.line = e.text_line = line;
    put(e.text);
    out.push_back(e);
    put(separators[i % 5]);
  }
  return sql;
}

void check_statements(const std::string& sql, const std::vector<Expected>& expected) {
  Script s = analyze(sql, "big.sql");
  REQUIRE(s.statements.size() == expected.size());
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& st = s.statements[i];
    const auto& e = expected[i];
    if (st.text != e.text || st.kind != e.kind || st.line != e.line || st.text_line != e.text_line ||
        sql.compare(st.offset, st.length, e.text) != 0) {
      if (++wrong <= 5) {
        INFO("statement " << i + 1 << ": " << st.text << " (line " << st.line << ", text_line " << st.text_line
                          << ", kind " << st.kind << "), expected line " << e.line << ", text_line " << e.text_line);
        CHECK(false);
      }
    }
  }
  CHECK(wrong == 0);

  // Lint reports each DELETE without WHERE at its own line.
  const auto findings = lint(s, "big.sql");
  std::vector<int> lines;
  for (const auto& f : findings) {
    CHECK(f.rule == "delete-without-where");
    lines.push_back(f.line);
  }
  std::vector<int> want;
  for (const auto& e : expected)
    if (e.kind == "DeleteStmt") want.push_back(e.line);
  CHECK(lines == want);
}

}  // namespace

TEST_CASE("lines stay right across many statements of every shape", "[sql][scaling]") {
  std::vector<Expected> expected;
  const std::string sql = generated_file(2000, expected);
  check_statements(sql, expected);
}

TEST_CASE("a file of several MiB, parsed in pieces, gives the same statements and lines", "[sql][scaling]") {
  std::vector<Expected> expected;
  const std::string sql = generated_file(60000, expected);
  REQUIRE(sql.size() > 3u * 1024 * 1024);  // big enough to be parsed in pieces
  check_statements(sql, expected);
}

TEST_CASE("a big file of plain INSERTs: every statement on its own line", "[sql][scaling]") {
  std::string sql;
  for (int i = 0; i < 40000; ++i)
    sql += "INSERT INTO t (id, note) VALUES (" + std::to_string(i) + ", 'padding padding padding padding');\n";
  sql += "DROP TABLE t;";  // the last one without a newline or anything after it
  Script s = analyze(sql, "rows.sql");
  REQUIRE(s.statements.size() == 40001);
  CHECK(s.statements[0].line == 1);
  CHECK(s.statements[12345].line == 12346);
  CHECK(s.statements[12345].text == "INSERT INTO t (id, note) VALUES (12345, 'padding padding padding padding');");
  CHECK(s.statements[39999].line == 40000);
  CHECK(s.statements[40000].line == 40001);
  CHECK(s.statements[40000].text == "DROP TABLE t;");
  const auto f = only_finding(lint(s, "rows.sql"));
  CHECK(f.rule == "drop-table");
  CHECK(f.line == 40001);
}

TEST_CASE("a syntax error deep in a big file names its line", "[sql][scaling]") {
  std::string sql;
  for (int i = 0; i < 30000; ++i) sql += "INSERT INTO t VALUES (" + std::to_string(i) + ", 'padding padding padding padding');\n";
  sql += "INSERT INTO t VALUES (1,;\n";
  for (int i = 0; i < 30000; ++i) sql += "INSERT INTO t VALUES (" + std::to_string(i) + ", 'padding padding padding padding');\n";
  const std::string e = syntax_error(sql, "rows.sql");
  CHECK(e.find("rows.sql:30001: syntax error") == 0);
}

TEST_CASE("lint: many tables created in one file stay new for the statements after them", "[sql][lint][scaling]") {
  std::string sql;
  for (int i = 0; i < 3000; ++i) sql += "CREATE TABLE s.t" + std::to_string(i) + " (id int);\n";
  for (int i = 0; i < 3000; ++i) sql += "CREATE INDEX ON t" + std::to_string(i) + " (id);\n";
  sql += "CREATE INDEX ON other.t1 (id);\n";  // another schema: not new
  const auto f = only_finding(lint_sql(sql));
  CHECK(f.rule == "create-index-not-concurrently");
  CHECK(f.line == 6001);
}

TEST_CASE("the review excerpt: a normal file whole, a huge one bounded", "[sql][excerpt]") {
  using rb::sql::review_excerpt;
  const std::string small = "CREATE TABLE a (id int);\n\nINSERT INTO a VALUES (1);\n";
  auto e = review_excerpt(small);
  CHECK_FALSE(e.cut);
  CHECK(e.text == small);
  CHECK(review_excerpt("SELECT 1").text == "SELECT 1");
  CHECK_FALSE(review_excerpt("").cut);

  std::string lines;
  for (int i = 1; i <= 1000; ++i) lines += "SELECT " + std::to_string(i) + ";\n";  // short lines
  e = review_excerpt(lines);
  CHECK(e.cut);
  CHECK(std::count(e.text.begin(), e.text.end(), '\n') == 200);  // the line bound
  CHECK(e.text.back() == '\n');
  CHECK(e.lines_left == 800);
  CHECK(e.bytes_left == lines.size() - e.text.size());
  const std::string note = rb::sql::excerpt_note(e, 800, 1000, "m/0002.sql");
  CHECK(note.rfind("-- ... 800 more lines (", 0) == 0);
  CHECK(note.find(" KiB) not shown, 800 of 1,000 statements; the whole file: m/0002.sql, or run with -v") !=
        std::string::npos);

  std::string wide;
  for (int i = 0; i < 100; ++i) wide += std::string(500, 'x') + "\n";  // 50 KB in 100 lines
  e = review_excerpt(wide);
  CHECK(e.cut);
  CHECK(e.text.size() <= 16 * 1024);
  CHECK(e.text.size() == 32 * 501);  // whole lines only
  CHECK(e.lines_left == 68);

  // One huge line (a 50 MB literal): cut on a character boundary.
  std::string utf8 = "INSERT INTO a VALUES ('";
  for (int i = 0; i < 20000; ++i) utf8 += "é";
  utf8 += "');";
  e = review_excerpt(utf8);
  CHECK(e.cut);
  CHECK(e.text.size() <= 16 * 1024);
  CHECK(rb::sql::excerpt_note(e, std::string::npos, 1, "a.sql").find("1 more line (") != std::string::npos);
  CHECK(rb::sql::excerpt_note(e, std::string::npos, 1, "a.sql").find("the file has 1 statement;") != std::string::npos);
  // The cut leaves whole characters: the text is still valid UTF-8 and parses as far as it goes.
  CHECK((static_cast<unsigned char>(e.text.back()) & 0xC0) == 0x80);
  CHECK(static_cast<unsigned char>(e.text[e.text.size() - 2]) == 0xC3);
}
