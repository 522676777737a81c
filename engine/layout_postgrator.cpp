// postgrator (postgrator.js: getMigrations, migration file pattern): `<version>.do.<name>.sql`
// and its optional `<version>.undo.<name>.sql`, the version being the integer before the first
// `.`, in numeric order, paired by version. Each file runs as one query (one implicit
// transaction). JavaScript migrations (`.do.<name>.js`) are refused by load_chain.
#include <algorithm>
#include <map>

#include "engine/errors.hpp"
#include "engine/layout.hpp"

namespace rb::migrations {
namespace {

// "12.do.add_users.sql" -> {"12", "do"}; false when it is not a postgrator name.
bool parse(const std::string& f, std::string& version, std::string& action) {
  version = leading_digits(f);
  if (version.empty() || !ends_with(f, ".sql") || f.size() <= version.size() || f[version.size()] != '.') return false;
  const auto second = f.find('.', version.size() + 1);
  if (second == std::string::npos) return false;
  action = f.substr(version.size() + 1, second - version.size() - 1);
  return action == "do" || action == "undo";
}

std::vector<std::string> recognise(const DirListing& l) {
  std::vector<std::string> out;
  std::string v, a;
  for (const auto& f : l.files)
    if (parse(f, v, a)) out.push_back(f);
  return out;
}

std::vector<Migration> load(const DirListing& l) {
  std::map<std::string, std::string> undos;  // version without leading zeros -> file
  auto key = [](const std::string& v) {
    const auto nz = v.find_first_not_of('0');
    return nz == std::string::npos ? std::string("0") : v.substr(nz);
  };
  std::vector<Migration> out;
  for (const auto& f : l.files) {
    if (!ends_with(f, ".sql")) continue;
    std::string v, a;
    if (!parse(f, v, a))
      throw ConfigError("migration " + l.path(f) + " is not a postgrator migration name (<version>.do.<name>.sql)");
    if (a == "undo") {
      if (!undos.emplace(key(v), f).second)
        throw ConfigError("two undo scripts for version " + v + " in " + l.directory);
      continue;
    }
    Migration m;
    m.name = f;
    m.version = v;
    m.up_path = l.path(f);
    m.up_sql = l.read(m.up_path);
    out.push_back(std::move(m));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Migration& a, const Migration& b) { return compare_numbers(a.version, b.version) < 0; });
  refuse_duplicate_versions(out, "postgrator versions must be unique");
  for (auto& m : out)
    if (auto u = undos.find(key(m.version)); u != undos.end()) {
      m.down_path = l.path(u->second);
      m.down_sql = l.read(m.down_path);
      undos.erase(u);
    }
  if (!undos.empty())
    throw ConfigError("undo script " + l.path(undos.begin()->second) + " has no .do. script with version " +
                      undos.begin()->first);
  return out;
}

NewMigrationFiles create(const Chain& c, const NewMigrationRequest& r) {
  const std::string v = next_version(newest_version(c), r.now);
  NewMigrationFiles out{v + ".do." + r.title + ".sql", {{c.directory + "/" + v + ".do." + r.title + ".sql", r.up_sql}}};
  if (!r.down_sql.empty()) out.files.emplace_back(c.directory + "/" + v + ".undo." + r.title + ".sql", r.down_sql);
  return out;
}

}  // namespace

const LayoutModule kPostgratorLayout{"postgrator", "version before the first . as an integer (postgrator); .do. and .undo. pair by version",
                                     "001.do.create_users.sql + 001.undo.create_users.sql", recognise, load, create};

}  // namespace rb::migrations
