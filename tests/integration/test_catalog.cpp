// engine/catalog: snapshot, diff, foreign-key orphans and NOT VALID constraints against the real
// PostgreSQL server of scripts/test. Each TEST_CASE works in its own database.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "engine/catalog.hpp"

using rbtest::TempDatabase;
namespace catalog = rb::catalog;

namespace {

const char* kSchema = R"(
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, age integer, created_at timestamptz DEFAULT now());
CREATE UNIQUE INDEX users_email_idx ON users (email);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint,
  total numeric(10,2) CHECK (total >= 0),
  CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id));
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id serial PRIMARY KEY, order_id bigint REFERENCES orders (id));
)";

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// A database with kSchema and its snapshot taken before the change.
struct Fixture {
  TempDatabase db{"rb_catalog"};
  rb::db::Connection conn = db.connect();
  catalog::Snapshot before;
  Fixture() {
    conn.run_script(kSchema);
    before = catalog::snapshot(conn);
  }
  std::vector<std::string> after(const std::string& change) {
    conn.run_script(change);
    return catalog::diff(before, catalog::snapshot(conn));
  }
};

const catalog::Orphans* orphans_of(const std::vector<catalog::Orphans>& list, const std::string& name) {
  for (const auto& o : list)
    if (o.constraint == name) return &o;
  return nullptr;
}

}  // namespace

TEST_CASE("catalog: a snapshot reads tables, columns, indexes and constraints, and survives JSON", "[catalog]") {
  Fixture f;
  const auto& s = f.before;
  REQUIRE(s.tables.size() == 3);
  CHECK(s.tables[0].name == "billing.invoices");
  CHECK(s.tables[2].name == "public.users");
  const auto& users = s.tables[2].columns;
  REQUIRE(users.size() == 4);
  CHECK(users[0].name == "id");
  CHECK(users[0].type == "bigint");
  CHECK(users[0].not_null);
  CHECK(users[1].not_null);
  CHECK_FALSE(users[2].not_null);
  CHECK(users[3].type == "timestamp with time zone");
  REQUIRE(users[3].default_);
  CHECK(*users[3].default_ == "now()");
  const auto& invoices = s.tables[0].columns;
  REQUIRE(invoices[0].default_);
  CHECK(*invoices[0].default_ == "nextval('billing.invoices_id_seq'::regclass)");
  CHECK(*s.tables[1].columns[0].default_ == "GENERATED ALWAYS AS IDENTITY");
  bool idx = false;
  for (const auto& i : s.indexes)
    if (i.name == "public.users_email_idx") idx = i.valid && i.definition == "CREATE UNIQUE INDEX users_email_idx ON public.users USING btree (email)";
  CHECK(idx);
  bool fk = false;
  for (const auto& c : s.constraints)
    if (c.name == "orders_user_fk") fk = c.table == "public.orders" && c.type == "foreign key" && c.validated &&
                                         c.definition == "FOREIGN KEY (user_id) REFERENCES public.users(id)";
  CHECK(fk);

  // Equal to itself, also after a round trip through JSON text (what a run record holds).
  const auto back = catalog::from_json(nlohmann::json::parse(catalog::to_json(s).dump()));
  CHECK(catalog::diff(s, back).empty());
  CHECK(catalog::to_json(back) == catalog::to_json(s));
  CHECK(catalog::diff(s, catalog::snapshot(f.conn)).empty());
  // A different session search_path reads the same.
  f.conn.run_script("SET search_path = billing");
  CHECK(catalog::diff(s, catalog::snapshot(f.conn)).empty());
  CHECK(f.conn.query("SHOW search_path").rows.at(0).at(0).text == "billing");  // restored
  CHECK_THROWS_AS(catalog::from_json(nlohmann::json::parse(R"({"tables": [{"columns": []}]})")), rb::ConfigError);
}

TEST_CASE("catalog: diff names a dropped column, a type change, NOT NULL and a default", "[catalog]") {
  Fixture f;
  CHECK(joined(f.after("ALTER TABLE users DROP COLUMN email")) ==
        "column public.users.email is missing\n"
        "index public.users_email_idx is missing (CREATE UNIQUE INDEX users_email_idx ON public.users USING btree (email))\n");
  Fixture g;
  CHECK(joined(g.after("ALTER TABLE users ALTER COLUMN age TYPE bigint")) ==
        "column public.users.age: type integer expected, bigint found\n");
  Fixture h;
  CHECK(joined(h.after("ALTER TABLE users ALTER COLUMN email DROP NOT NULL; ALTER TABLE users ALTER COLUMN age SET NOT NULL")) ==
        "NOT NULL of public.users.email expected, absent\nNOT NULL of public.users.age not expected, present\n");
  Fixture i;
  CHECK(joined(i.after("ALTER TABLE users ALTER COLUMN created_at DROP DEFAULT; ALTER TABLE users ALTER COLUMN age SET DEFAULT 18")) ==
        "default of public.users.age: none expected, 18 found\ndefault of public.users.created_at: now() expected, none found\n");
}

TEST_CASE("catalog: diff names an INVALID index, a NOT VALID constraint and extra objects", "[catalog]") {
  Fixture f;
  // An index left INVALID, as a failed CREATE INDEX CONCURRENTLY leaves it.
  f.conn.run_script("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'users_email_idx'::regclass");
  auto d = catalog::diff(f.before, catalog::snapshot(f.conn));
  CHECK(joined(d) == "index public.users_email_idx is INVALID\n");

  Fixture g;
  d = g.after("ALTER TABLE orders DROP CONSTRAINT orders_user_fk; "
              "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID");
  CHECK(joined(d) == "constraint orders_user_fk on public.orders is NOT VALID (expected validated)\n");
  // Validating it brings it back to what was expected; the reverse (expected NOT VALID, found
  // validated) is no difference either way round in `validated`.
  g.conn.run_script("ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk");
  CHECK(catalog::diff(g.before, catalog::snapshot(g.conn)).empty());

  Fixture h;
  d = h.after("CREATE TABLE foo (id int PRIMARY KEY); ALTER TABLE users ADD COLUMN nickname text; "
              "CREATE INDEX users_age_idx ON users (age); ALTER TABLE orders DROP CONSTRAINT orders_user_fk");
  CHECK(joined(d) == "table public.foo is unexpected (1 column(s), 1 index(es), 1 constraint(s))\n"
                     "column public.users.nickname is unexpected\n"
                     "index public.users_age_idx is unexpected (CREATE INDEX users_age_idx ON public.users USING btree (age))\n"
                     "constraint orders_user_fk on public.orders is missing (FOREIGN KEY (user_id) REFERENCES public.users(id))\n");
  // And the other way round: the table is missing, its objects are not listed one by one.
  CHECK(contains(catalog::diff(catalog::snapshot(h.conn), h.before),
                 "table public.foo is missing (1 column(s), 1 index(es), 1 constraint(s))"));
  CHECK(catalog::diff(catalog::snapshot(h.conn), h.before).size() == 4);
}

TEST_CASE("catalog: fk_orphans finds rows written past an FK and under a NOT VALID FK; not_valid lists it", "[catalog]") {
  Fixture f;
  f.conn.run_script("INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x'); "
                    "INSERT INTO orders (user_id, total) VALUES (1, 10), (2, 5), (NULL, 1)");
  auto list = catalog::fk_orphans(f.conn, 1000);
  REQUIRE(list.size() == 2);
  CHECK(list[0].constraint == "invoices_order_id_fkey");  // billing.invoices sorts first
  const auto* fk = orphans_of(list, "orders_user_fk");
  REQUIRE(fk);
  CHECK(fk->orphans == 0);
  CHECK(fk->checked == 2);  // the NULL key is not an orphan
  CHECK_FALSE(fk->sampled);
  CHECK(catalog::not_valid_constraints(f.conn).empty());

  // Replication role skips the FK triggers: the row goes in without its parent.
  f.conn.run_script("SET session_replication_role = replica; INSERT INTO orders (user_id, total) VALUES (42, 1); "
                    "SET session_replication_role = origin");
  list = catalog::fk_orphans(f.conn, 1000);
  fk = orphans_of(list, "orders_user_fk");
  REQUIRE(fk);
  CHECK(fk->orphans == 1);
  CHECK(fk->example == "(user_id)=(42)");
  CHECK(fk->table == "public.orders");
  CHECK(fk->parent == "public.users");
  CHECK(fk->validated);

  // A NOT VALID FK over rows that were there before it.
  f.conn.run_script("CREATE TABLE payments (id int, user_id bigint, account int); INSERT INTO payments VALUES (1, 7, 3), (2, 1, 1);"
                    "ALTER TABLE payments ADD CONSTRAINT payments_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID");
  list = catalog::fk_orphans(f.conn, 1000);
  fk = orphans_of(list, "payments_user_fk");
  REQUIRE(fk);
  CHECK(fk->orphans == 1);
  CHECK(fk->example == "(user_id)=(7)");
  CHECK_FALSE(fk->validated);
  const auto nv = catalog::not_valid_constraints(f.conn);
  REQUIRE(nv.size() == 1);
  CHECK(nv[0].name == "payments_user_fk");
  CHECK(nv[0].table == "public.payments");
}

TEST_CASE("catalog: fk_orphans samples a table larger than the sample size and says so", "[catalog]") {
  TempDatabase db{"rb_catalog"};
  auto conn = db.connect();
  conn.run_script("CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p SELECT g FROM generate_series(1, 10) g;"
                  "CREATE TABLE c (id int, pid int REFERENCES p (id));"
                  "INSERT INTO c SELECT g, 1 + g % 10 FROM generate_series(1, 20000) g;"
                  "SET session_replication_role = replica; INSERT INTO c SELECT g, 999 FROM generate_series(20001, 40000) g;"
                  "SET session_replication_role = origin; ANALYZE c");
  auto list = catalog::fk_orphans(conn, 5000);
  REQUIRE(list.size() == 1);
  CHECK(list[0].sampled);
  CHECK(list[0].checked <= 5000);
  CHECK(list[0].orphans > 0);
  CHECK(list[0].example == "(pid)=(999)");
  // Big enough: every row is looked at.
  list = catalog::fk_orphans(conn, 100000);
  CHECK_FALSE(list[0].sampled);
  CHECK(list[0].checked == 40000);
  CHECK(list[0].orphans == 20000);
  // An estimate that is too low (never analyzed since it grew) still stops at the limit.
  conn.run_script("CREATE TABLE c2 (pid int REFERENCES p (id)); INSERT INTO c2 SELECT 1 FROM generate_series(1, 300)");
  list = catalog::fk_orphans(conn, 100);
  const auto* c2 = orphans_of(list, "c2_pid_fkey");
  REQUIRE(c2);
  CHECK(c2->sampled);
  CHECK(c2->checked == 100);
}
