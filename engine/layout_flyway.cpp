// Flyway (documentation "Migrations" and "Naming patterns"; core: MigrationVersion.java,
// ResourceNameParser.java): `V<version>__<description>.sql` versioned, `U<version>__...` the undo
// of the V with the same version, `R__<description>.sql` repeatable. A version's parts are
// separated by `.` or `_` (`V1_1__` is version 1.1) and compare as numbers, part by part, a
// missing part counting as 0 (so 1 and 1.0 are the same version). Versioned migrations run in
// version order; repeatables run after them, in description order, and run again whenever their
// checksum changes. No other .sql file is a Flyway migration (callbacks such as afterMigrate.sql
// are not run by runbook and are refused rather than skipped).
#include <algorithm>
#include <cctype>
#include <map>

#include "engine/errors.hpp"
#include "engine/layout.hpp"

namespace rb::migrations {
namespace {

struct Parsed {
  char prefix = 0;          // 'V', 'U' or 'R'
  std::vector<std::string> parts;  // version parts without leading zeros, V and U only
  std::string description;  // after "__", without ".sql"
};

bool parse(const std::string& f, Parsed& out) {
  if (!ends_with(f, ".sql") || f.size() < 7) return false;
  const char p = f[0];
  if (p != 'V' && p != 'U' && p != 'R') return false;
  const auto sep = f.find("__", 1);
  if (sep == std::string::npos) return false;
  out.prefix = p;
  out.description = f.substr(sep + 2, f.size() - 4 - sep - 2);
  std::replace(out.description.begin(), out.description.end(), '_', ' ');  // as Flyway shows it
  const std::string version = f.substr(1, sep - 1);
  if (p == 'R') return version.empty();
  if (version.empty() || !std::isdigit(static_cast<unsigned char>(version.front())) ||
      !std::isdigit(static_cast<unsigned char>(version.back())))
    return false;
  std::string part;
  for (char c : version + ".") {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      part += c;
    } else if (c == '.' || c == '_') {
      if (part.empty()) return false;  // "1..2"
      const auto nz = part.find_first_not_of('0');
      out.parts.push_back(nz == std::string::npos ? "0" : part.substr(nz));
      part.clear();
    } else {
      return false;
    }
  }
  while (out.parts.size() > 1 && out.parts.back() == "0") out.parts.pop_back();  // 1.0 is 1
  return true;
}

int compare_parts(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string x = i < a.size() ? a[i] : "0", y = i < b.size() ? b[i] : "0";
    if (const int c = compare_numbers(x, y)) return c;
  }
  return 0;
}

std::string dotted(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ".") + p;
  return out;
}

std::vector<std::string> recognise(const DirListing& l) {
  std::vector<std::string> out;
  Parsed p;
  for (const auto& f : l.files)
    if (parse(f, p = Parsed{})) out.push_back(f);
  return out;
}

std::vector<Migration> load(const DirListing& l) {
  std::vector<std::pair<Parsed, Migration>> versioned, repeatable;
  std::map<std::string, std::string> undo;  // dotted version -> U file
  for (const auto& f : l.files) {
    if (!ends_with(f, ".sql")) continue;
    Parsed p;
    if (!parse(f, p))
      throw ConfigError("migration " + l.path(f) +
                        " is not a Flyway migration name (V<version>__<description>.sql, U<version>__... or "
                        "R__<description>.sql); runbook does not run Flyway callbacks");
    if (p.prefix == 'U') {
      if (!undo.emplace(dotted(p.parts), f).second)
        throw ConfigError("two undo scripts for version " + dotted(p.parts) + ": " + l.path(undo[dotted(p.parts)]) +
                          " and " + l.path(f));
      continue;
    }
    Migration m;
    m.name = f;
    m.up_path = l.path(f);
    m.up_sql = l.read(m.up_path);
    if (p.prefix == 'R') {
      m.version = "R";
      m.repeatable = true;
      repeatable.emplace_back(std::move(p), std::move(m));
    } else {
      m.version = dotted(p.parts);
      versioned.emplace_back(std::move(p), std::move(m));
    }
  }
  std::sort(versioned.begin(), versioned.end(),
            [](const auto& a, const auto& b) { return compare_parts(a.first.parts, b.first.parts) < 0; });
  std::sort(repeatable.begin(), repeatable.end(),
            [](const auto& a, const auto& b) { return a.first.description < b.first.description; });
  std::vector<Migration> out;
  for (std::size_t i = 1; i < versioned.size(); ++i)
    if (compare_parts(versioned[i - 1].first.parts, versioned[i].first.parts) == 0)
      throw ConfigError("duplicate migration version " + versioned[i].second.version + ": " +
                        versioned[i - 1].second.up_path + " and " + versioned[i].second.up_path +
                        " (Flyway: 1_1, 1.1 and 1.1.0 are one version)");
  for (auto& [p, m] : versioned) {
    if (auto u = undo.find(m.version); u != undo.end()) {
      m.down_path = l.path(u->second);
      m.down_sql = l.read(m.down_path);
      undo.erase(u);
    }
    out.push_back(std::move(m));
  }
  if (!undo.empty())
    throw ConfigError("undo script " + l.path(undo.begin()->second) + " has no versioned migration V" +
                      undo.begin()->first + "__*.sql (U and V pair by version)");
  for (auto& [p, m] : repeatable) out.push_back(std::move(m));
  return out;
}

// `V<next>__<title>.sql`, its down as `U<next>__<title>.sql`.
NewMigrationFiles create(const Chain& c, const NewMigrationRequest& r) {
  const std::string newest = newest_version(c);
  const std::string version = newest.empty() ? "1" : next_version(newest, r.now);
  const std::string name = "V" + version + "__" + r.title + ".sql";
  NewMigrationFiles out{name, {{c.directory + "/" + name, r.up_sql}}};
  if (!r.down_sql.empty()) out.files.emplace_back(c.directory + "/U" + version + "__" + r.title + ".sql", r.down_sql);
  return out;
}

}  // namespace

const LayoutModule kFlywayLayout{
    "flyway",
    "version parts split on . and _, compared as numbers (Flyway); R__ repeatables last, by description, re-run when "
    "changed",
    "V1_1__create_users.sql, U1_1__create_users.sql, R__views.sql", recognise, load, create};

}  // namespace rb::migrations
