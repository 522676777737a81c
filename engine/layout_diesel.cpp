// diesel (diesel_migrations/src/file_based_migrations.rs): every sub-directory
// `<version>_<name>/` holding an up.sql is a migration (down.sql optional); the version is the
// text before the first `_` with every `-` removed, and versions compare as strings, bytewise —
// so `2017-08-31-230457_x` (20170831230457) sorts after `20170101000000_y`, and the newer CLI's
// `-0000` suffix makes an 18-digit version. metadata.toml with `run_in_transaction = false`
// runs the migration outside a transaction.
#include <algorithm>
#include <ctime>
#include <filesystem>

#include "engine/errors.hpp"
#include "engine/layout.hpp"

namespace rb::migrations {
namespace {

namespace fs = std::filesystem;

std::string diesel_version(const std::string& dir) {
  std::string v = dir.substr(0, dir.find('_'));
  v.erase(std::remove(v.begin(), v.end(), '-'), v.end());
  return v;
}

std::vector<std::string> recognise(const DirListing& l) {
  std::vector<std::string> out;
  for (const auto& d : l.dirs)
    if (fs::exists(l.path(d) + "/up.sql")) out.push_back(d);
  return out;
}

// `run_in_transaction = false` on a line of its own (diesel reads the file as TOML).
bool runs_outside_transaction(const std::string& toml) {
  std::size_t at = 0;
  while (at < toml.size()) {
    std::size_t end = toml.find('\n', at);
    if (end == std::string::npos) end = toml.size();
    std::string line = toml.substr(at, end - at);
    line.erase(std::remove_if(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; }),
               line.end());
    if (line.rfind("run_in_transaction=false", 0) == 0) return true;
    at = end + 1;
  }
  return false;
}

std::vector<Migration> load(const DirListing& l) {
  std::vector<Migration> out;
  for (const auto& d : recognise(l)) {
    Migration m;
    m.name = d;
    m.version = diesel_version(d);
    m.up_path = l.path(d) + "/up.sql";
    m.up_sql = l.read(m.up_path);
    if (fs::exists(l.path(d) + "/down.sql")) {
      m.down_path = l.path(d) + "/down.sql";
      m.down_sql = l.read(m.down_path);
    }
    const std::string meta = l.path(d) + "/metadata.toml";
    if (fs::exists(meta) && runs_outside_transaction(l.read(meta)))
      m.no_transaction = "diesel metadata.toml run_in_transaction = false";
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const Migration& a, const Migration& b) {
    return a.version != b.version ? a.version < b.version : a.name < b.name;
  });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i - 1].version == out[i].version)
      throw ConfigError("duplicate diesel migration version " + out[i].version + ": " + out[i - 1].up_path + " and " +
                        out[i].up_path);
  return out;
}

// `<version>_<title>/up.sql` (+ down.sql), the version in the style of the newest: diesel's
// `YYYY-MM-DD-HHMMSS` when it has dashes, else digits.
NewMigrationFiles create(const Chain& c, const NewMigrationRequest& r) {
  const std::string newest = c.migrations.empty() ? "" : c.migrations.back().name;
  std::string version;
  if (newest.substr(0, newest.find('_')).find('-') != std::string::npos) {
    const std::time_t t = static_cast<std::time_t>(r.now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d-%H%M%S", &tm);
    version = buf;
    std::string digits = version;
    digits.erase(std::remove(digits.begin(), digits.end(), '-'), digits.end());
    if (digits <= newest_version(c)) version = next_version(newest_version(c), r.now);  // a clock behind
  } else {
    version = next_version(newest_version(c), r.now);
  }
  const std::string dir = c.directory + "/" + version + "_" + r.title;
  NewMigrationFiles out{version + "_" + r.title, {{dir + "/up.sql", r.up_sql}}};
  if (!r.down_sql.empty()) out.files.emplace_back(dir + "/down.sql", r.down_sql);
  return out;
}

}  // namespace

const LayoutModule kDieselLayout{"diesel",
                                 "version = text before the first '_' without '-', compared bytewise (diesel)",
                                 "2024-01-01-120000_create_users/up.sql + down.sql", recognise, load, create};

}  // namespace rb::migrations
