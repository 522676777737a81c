// Versioned directories: `<major>/<minor>_<name>.up.sql` with an optional
// `<minor>_<name>.down.sql`, both levels numeric (`2/10_x` after `2/9_y`, `10/1_z` after both),
// up and down paired by minor number within a major directory, as projects that group their
// migrations by release do. The ledger name is `<major>/<file>`, the version `<major>.<minor>`.
#include <algorithm>
#include <filesystem>
#include <map>

#include "engine/errors.hpp"
#include "engine/layout.hpp"

namespace rb::migrations {
namespace {

namespace fs = std::filesystem;

bool all_digits(const std::string& s) { return !s.empty() && leading_digits(s).size() == s.size(); }

bool is_pair_file(const std::string& f) {
  const std::string v = leading_digits(f);
  return !v.empty() && f.size() > v.size() && f[v.size()] == '_' && (ends_with(f, ".up.sql") || ends_with(f, ".down.sql"));
}

std::vector<std::string> files_of(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && e.path().filename().string()[0] != '.') out.push_back(e.path().filename().string());
  if (ec) throw ConfigError("cannot list migrations directory " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> recognise(const DirListing& l) {
  std::vector<std::string> out;
  for (const auto& d : l.dirs) {
    if (!all_digits(d)) continue;
    const auto files = files_of(l.path(d));
    if (std::any_of(files.begin(), files.end(), [](const std::string& f) { return is_pair_file(f) && ends_with(f, ".up.sql"); }))
      out.push_back(d);
  }
  return out;
}

std::vector<Migration> load(const DirListing& l) {
  std::vector<std::string> majors = recognise(l);
  std::stable_sort(majors.begin(), majors.end(), [](const auto& a, const auto& b) { return compare_numbers(a, b) < 0; });
  std::vector<Migration> out;
  for (const auto& major : majors) {
    const std::string dir = l.path(major);
    std::map<std::string, std::string> downs;  // minor without leading zeros -> file
    std::vector<Migration> here;
    auto key = [](const std::string& f) {
      const std::string v = leading_digits(f);
      const auto nz = v.find_first_not_of('0');
      return nz == std::string::npos ? std::string("0") : v.substr(nz);
    };
    for (const auto& f : files_of(dir)) {
      if (!ends_with(f, ".sql")) continue;
      if (!is_pair_file(f))
        throw ConfigError("migration " + dir + "/" + f + " is not a versioned-directory migration (" + major +
                          "/<minor>_<name>.up.sql)");
      if (ends_with(f, ".down.sql")) {
        if (!downs.emplace(key(f), f).second)
          throw ConfigError("two down scripts for version " + major + "." + key(f) + " in " + dir);
        continue;
      }
      Migration m;
      m.name = major + "/" + f;
      m.version = major + "." + leading_digits(f);
      m.up_path = dir + "/" + f;
      m.up_sql = l.read(m.up_path);
      here.push_back(std::move(m));
    }
    std::stable_sort(here.begin(), here.end(), [](const Migration& a, const Migration& b) {
      return compare_numbers(leading_digits(a.name.substr(a.name.find('/') + 1)),
                             leading_digits(b.name.substr(b.name.find('/') + 1))) < 0;
    });
    for (auto& m : here) {
      const std::string file = m.name.substr(m.name.find('/') + 1);
      if (auto d = downs.find(key(file)); d != downs.end()) {
        m.down_path = dir + "/" + d->second;
        m.down_sql = l.read(m.down_path);
        downs.erase(d);
      }
      out.push_back(std::move(m));
    }
    if (!downs.empty())
      throw ConfigError("down script " + dir + "/" + downs.begin()->second + " has no up script with minor version " +
                        downs.begin()->first + " in " + dir);
  }
  refuse_duplicate_versions(out, "up scripts pair with down scripts by number");
  return out;
}

// The next minor version in the newest major directory.
NewMigrationFiles create(const Chain& c, const NewMigrationRequest& r) {
  const std::string newest = newest_version(c);  // "2.10"
  const std::string major = newest.empty() ? "1" : newest.substr(0, newest.find('.'));
  const std::string minor = newest.empty() ? "1" : next_version(newest.substr(newest.find('.') + 1), r.now);
  const std::string stem = major + "/" + minor + "_" + r.title;
  NewMigrationFiles out{stem + ".up.sql", {{c.directory + "/" + stem + ".up.sql", r.up_sql}}};
  if (!r.down_sql.empty()) out.files.emplace_back(c.directory + "/" + stem + ".down.sql", r.down_sql);
  return out;
}

}  // namespace

const LayoutModule kVersionedDirsLayout{"versioned-dirs",
                                        "major directory, then minor version, both as integers",
                                        "1/1_create_users.up.sql, 1/2_add_email.up.sql, 2/1_orders.up.sql",
                                        recognise, load, create};

}  // namespace rb::migrations
