// Flat `*.sql` files applied by hand or by a project's own script in version order: `sort -V`
// semantics on the name (GNU coreutils' version sort: digit runs compare as numbers), so
// `2.9.1.sql` < `2.11.0.sql`, `upgrade_9.sql` < `upgrade_10.sql`, `0009_x` < `0010_y`.
// `*.down.sql` files are not migrations here and are ignored; `*.up.sql` belong to the
// up/down layouts.
#include <algorithm>

#include "engine/errors.hpp"
#include "engine/layout.hpp"

namespace rb::migrations {
namespace {

std::string stem(const std::string& file) { return file.substr(0, file.size() - 4); }

bool is_flat(const std::string& f) { return ends_with(f, ".sql") && !ends_with(f, ".up.sql"); }

std::vector<std::string> recognise(const DirListing& l) {
  std::vector<std::string> out;
  for (const auto& f : l.files)
    if (is_flat(f)) out.push_back(f);
  return out;
}

std::vector<Migration> load(const DirListing& l) {
  std::vector<Migration> out;
  for (const auto& f : l.files) {
    if (!is_flat(f) || ends_with(f, ".down.sql")) continue;
    Migration m;
    m.name = f;
    m.version = version_of(f);
    if (m.version.empty()) m.version = stem(f);
    m.up_path = l.path(f);
    m.up_sql = l.read(m.up_path);
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const Migration& a, const Migration& b) {
    const int c = compare_versions(stem(a.name), stem(b.name));
    return c != 0 ? c < 0 : a.name < b.name;
  });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (compare_versions(out[i - 1].version, out[i].version) == 0)
      throw ConfigError("duplicate migration version " + out[i].version + ": " + out[i - 1].up_path + " and " +
                        out[i].up_path + " (flat files are ordered by version; rename one)");
  return out;
}

// Flat files have no down scripts: a new one is `<next version>_<title>.sql`.
NewMigrationFiles create(const Chain& c, const NewMigrationRequest& r) {
  const std::string name = next_version(newest_version(c), r.now) + "_" + r.title + ".sql";
  return {name, {{c.directory + "/" + name, r.up_sql}}};
}

}  // namespace

const LayoutModule kFlatLayout{"flat", "version sort of the file name (sort -V: 2.9.1 < 2.11.0, upgrade_9 < upgrade_10)",
                               "0001_create_users.sql, 2.11.0.sql, upgrade_104.sql", recognise, load, create};

}  // namespace rb::migrations
