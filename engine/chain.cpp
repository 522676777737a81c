#include "engine/chain.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/errors.hpp"
#include "engine/hash.hpp"
#include "engine/layout.hpp"

namespace fs = std::filesystem;

namespace rb::migrations {

std::string read_migration_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read migration " + path + ": " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read migration " + path + ": read error");
  return buf.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with_digit(const std::string& s) { return !s.empty() && std::isdigit(static_cast<unsigned char>(s[0])); }

std::string leading_digits(const std::string& s) {
  std::size_t n = 0;
  while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
  return s.substr(0, n);
}

int compare_numbers(const std::string& a, const std::string& b) { return compare_versions(a, b); }

const std::vector<const LayoutModule*>& layouts() {
  static const std::vector<const LayoutModule*> all{&kDbmateLayout, &kSqlxLayout,          &kDieselLayout,
                                                    &kPrismaLayout, &kGolangMigrateLayout, &kFlatLayout};
  return all;
}

const LayoutModule* find_layout(const std::string& name) {
  for (const auto* l : layouts())
    if (name == l->name) return l;
  return nullptr;
}

std::string version_of(const std::string& name) {
  std::size_t start = 0;
  if (name.size() > 1 && (name[0] == 'V' || name[0] == 'v') && std::isdigit(static_cast<unsigned char>(name[1])))
    start = 1;
  if (start >= name.size() || !std::isdigit(static_cast<unsigned char>(name[start]))) return "";
  auto end = name.find('_', start);
  std::string v = name.substr(start, end == std::string::npos ? std::string::npos : end - start);
  // A name without "_" such as "0001.sql" or "2.11.0.sql": the whole name without ".sql".
  if (end == std::string::npos && ends_with(v, ".sql")) v.resize(v.size() - 4);
  return v;
}

int compare_versions(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    const bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::string na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      na.erase(0, std::min(na.find_first_not_of('0'), na.size()));
      nb.erase(0, std::min(nb.find_first_not_of('0'), nb.size()));
      if (na.size() != nb.size()) return na.size() < nb.size() ? -1 : 1;
      if (int c = na.compare(nb)) return c < 0 ? -1 : 1;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j] ? -1 : 1;
      ++i;
      ++j;
    }
  }
  if (i < a.size()) return 1;
  if (j < b.size()) return -1;
  return 0;
}

const Migration* Chain::find(const std::string& key) const {
  int i = index_of(key);
  return i < 0 ? nullptr : &migrations[static_cast<std::size_t>(i)];
}

int Chain::index_of(const std::string& key) const {
  for (std::size_t i = 0; i < migrations.size(); ++i)
    if (migrations[i].name == key) return static_cast<int>(i);
  for (std::size_t i = 0; i < migrations.size(); ++i)
    if (compare_versions(migrations[i].version, key) == 0) return static_cast<int>(i);
  return -1;
}

namespace {

DirListing list_directory(const std::string& directory) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec))
    throw ConfigError("migrations directory " + directory + " does not exist or is not a directory");
  DirListing l;
  l.directory = directory;
  while (l.directory.size() > 1 && l.directory.back() == '/') l.directory.pop_back();
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (entry.is_directory(ec)) l.dirs.push_back(name);
    else l.files.push_back(name);
  }
  if (ec) throw ConfigError("cannot list migrations directory " + directory + ": " + ec.message());
  std::sort(l.files.begin(), l.files.end());
  std::sort(l.dirs.begin(), l.dirs.end());
  return l;
}

// The layout that recognises every migration-looking entry, most specific first; a directory
// that no single layout explains is an error naming an entry of each.
const LayoutModule& detect(const DirListing& l) {
  std::set<std::string> all;
  std::vector<std::pair<const LayoutModule*, std::vector<std::string>>> claims;
  for (const auto* layout : layouts()) {
    auto claimed = layout->recognise(l);
    all.insert(claimed.begin(), claimed.end());
    claims.emplace_back(layout, std::move(claimed));
  }
  // Every SQL file and versioned directory must be explained: none is silently skipped.
  for (const auto& f : l.files)
    if (ends_with(f, ".sql")) all.insert(f);
  for (const auto& d : l.dirs)
    if (starts_with_digit(d)) all.insert(d);
  if (all.empty()) return kFlatLayout;       // an empty chain
  for (const auto& [layout, claimed] : claims)
    if (claimed.size() == all.size()) return *layout;
  // Name the two layouts that explain the most entries, with an entry only each explains.
  std::sort(claims.begin(), claims.end(), [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  std::string msg = "migrations directory " + l.directory + " mixes layouts: no single layout explains every file:";
  for (std::size_t i = 0; i < claims.size() && i < 2 && !claims[i].second.empty(); ++i)
    msg += "\n  - " + std::string(claims[i].first->name) + " (" + claims[i].first->pattern + ") explains " +
           std::to_string(claims[i].second.size()) + " of " + std::to_string(all.size()) + " entries, e.g. " +
           claims[i].second.front();
  for (const auto& e : all) {
    const auto& best = claims.front().second;
    if (std::find(best.begin(), best.end(), e) == best.end()) {
      msg += "\n  - not " + std::string(claims.front().first->name) + ": " + l.path(e);
      break;
    }
  }
  msg += "\n  Use one layout per directory, or choose one with --set layout=NAME (";
  for (const auto* layout : layouts()) msg += std::string(layout->name) + (layout == layouts().back() ? ")" : ", ");
  throw ConfigError(msg);
}

}  // namespace

Chain load_chain(const std::string& directory, const std::string& layout_name) {
  const DirListing listing = list_directory(directory);
  const LayoutModule* layout = nullptr;
  if (!layout_name.empty()) {
    layout = find_layout(layout_name);
    if (!layout) {
      std::string names;
      for (const auto* l : layouts()) names += (names.empty() ? "" : ", ") + std::string(l->name);
      throw ConfigError("unknown layout '" + layout_name + "' (one of: " + names + ")");
    }
  } else {
    layout = &detect(listing);
  }
  for (const auto& d : listing.dirs)
    if (starts_with_digit(d) && layout != &kDieselLayout && layout != &kPrismaLayout)
      throw ConfigError("migration directory " + listing.path(d) + " is not a " + layout->name + " migration (" +
                        layout->pattern + ")");
  Chain chain;
  chain.directory = directory;
  chain.layout = layout->name;
  chain.ordering = layout->ordering;
  chain.migrations = layout->load(listing);
  std::set<std::string> names;
  for (auto& m : chain.migrations) {
    if (m.sha256.empty()) m.sha256 = sha256_hex(m.up_sql);
    if (!names.insert(m.name).second) throw ConfigError("duplicate migration name " + m.name + " in " + directory);
  }
  return chain;
}

}  // namespace rb::migrations
