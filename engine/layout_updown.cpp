// Up/down pairs by number: golang-migrate and sqlx.
//  - golang-migrate (source/parse.go): `^([0-9]+)_(.*)\.(down|up)\.(.*)$`; the version is the
//    number as a uint, migrations run in numeric order, an up and a down pair by version alone
//    (their titles may differ: `30_add_x.up.sql` with `30_drop_x.down.sql`).
//  - sqlx (sqlx-core/src/migrate/source.rs, migration.rs): `<i64>_<description>.sql` (simple) or
//    `.up.sql`/`.down.sql` (reversible), numeric order, paired by version; a file whose text
//    starts with `-- no-transaction` runs outside a transaction.
#include <map>

#include <algorithm>

#include "engine/errors.hpp"
#include "engine/layout.hpp"

namespace rb::migrations {
namespace {

bool is_pair_file(const std::string& f) {
  return starts_with_digit(f) && f.size() > leading_digits(f).size() && f[leading_digits(f).size()] == '_' &&
         (ends_with(f, ".up.sql") || ends_with(f, ".down.sql"));
}

bool is_sqlx_file(const std::string& f) {
  const std::string v = leading_digits(f);
  return !v.empty() && f.size() > v.size() && f[v.size()] == '_' && ends_with(f, ".sql");
}

std::vector<std::string> recognise_golang(const DirListing& l) {
  std::vector<std::string> out;
  for (const auto& f : l.files)
    if (is_pair_file(f)) out.push_back(f);
  return out;
}

// sqlx is told apart from golang-migrate and flat files by its directive.
std::vector<std::string> recognise_sqlx(const DirListing& l) {
  std::vector<std::string> out;
  bool directive = false;
  for (const auto& f : l.files) {
    if (!is_sqlx_file(f)) continue;
    out.push_back(f);
    if (!ends_with(f, ".down.sql") && l.read(l.path(f)).rfind("-- no-transaction", 0) == 0)
      directive = true;
  }
  if (!directive) out.clear();
  return out;
}

std::vector<Migration> load_pairs(const DirListing& l, bool sqlx) {
  std::map<std::string, std::string> downs;  // version (no leading zeros) -> file
  auto key = [](const std::string& digits) {
    const auto nz = digits.find_first_not_of('0');
    return nz == std::string::npos ? std::string("0") : digits.substr(nz);
  };
  for (const auto& f : l.files) {
    if (!ends_with(f, ".down.sql") || !(sqlx ? is_sqlx_file(f) : is_pair_file(f))) continue;
    auto [it, fresh] = downs.emplace(key(leading_digits(f)), f);
    if (!fresh)
      throw ConfigError("two down scripts for version " + leading_digits(f) + ": " + l.path(it->second) + " and " +
                        l.path(f));
  }
  std::vector<Migration> out;
  std::map<std::string, std::string> seen;
  for (const auto& f : l.files) {
    if (ends_with(f, ".down.sql")) continue;
    if (sqlx ? !is_sqlx_file(f) : !(is_pair_file(f) && ends_with(f, ".up.sql"))) continue;
    Migration m;
    m.name = f;
    m.version = leading_digits(f);
    if (auto [it, fresh] = seen.emplace(key(m.version), f); !fresh)
      throw ConfigError("duplicate migration version " + m.version + ": " + l.path(it->second) + " and " + l.path(f));
    m.up_path = l.path(f);
    m.up_sql = l.read(m.up_path);
    if (sqlx && m.up_sql.rfind("-- no-transaction", 0) == 0) m.no_transaction = "sqlx directive -- no-transaction";
    if (auto d = downs.find(key(m.version)); d != downs.end()) {
      m.down_path = l.path(d->second);
      m.down_sql = l.read(m.down_path);
      downs.erase(d);
    }
    out.push_back(std::move(m));
  }
  if (!downs.empty())
    throw ConfigError("down script " + l.path(downs.begin()->second) + " has no up script with version " +
                      downs.begin()->first + " (up and down pair by version number)");
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return compare_numbers(a.version, b.version) < 0; });
  return out;
}

std::vector<Migration> load_golang(const DirListing& l) { return load_pairs(l, false); }
std::vector<Migration> load_sqlx(const DirListing& l) { return load_pairs(l, true); }

NewMigrationFiles create_pair(const Chain& c, const NewMigrationRequest& r) {
  const std::string stem = next_version(newest_version(c), r.now) + "_" + r.title;
  NewMigrationFiles out{stem + ".up.sql", {{c.directory + "/" + stem + ".up.sql", r.up_sql}}};
  if (!r.down_sql.empty()) out.files.emplace_back(c.directory + "/" + stem + ".down.sql", r.down_sql);
  return out;
}

// sqlx: reversible pairs when the chain has them, else a simple file (no down).
NewMigrationFiles create_sqlx(const Chain& c, const NewMigrationRequest& r) {
  for (const auto& m : c.migrations)
    if (ends_with(m.name, ".up.sql")) return create_pair(c, r);
  const std::string name = next_version(newest_version(c), r.now) + "_" + r.title + ".sql";
  return {name, {{c.directory + "/" + name, r.up_sql}}};
}

}  // namespace

const LayoutModule kGolangMigrateLayout{"golang-migrate",
                                        "version number as an integer; .up.sql and .down.sql pair by number",
                                        "1_create_users.up.sql + 1_create_users.down.sql", recognise_golang,
                                        load_golang, create_pair};
const LayoutModule kSqlxLayout{"sqlx", "version as a 64-bit integer; up and down pair by version; -- no-transaction",
                               "20240101120000_create_users.sql or .up.sql + .down.sql", recognise_sqlx, load_sqlx, create_sqlx};

}  // namespace rb::migrations
