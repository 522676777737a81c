#include "engine/chain.hpp"
#include "engine/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
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

const std::string& DirListing::read(const std::string& path) const {
  auto it = contents_.find(path);
  if (it == contents_.end()) it = contents_.emplace(path, read_migration_file(path)).first;
  return it->second;
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

std::string keep_only(const std::string& text, std::size_t from, std::size_t to) {
  std::string out = text;
  for (std::size_t i = 0; i < out.size(); ++i)
    if ((i < from || i >= to) && out[i] != '\n') out[i] = ' ';
  return out;
}

namespace {
std::string utc_stamp(long long now, const char* format) {
  const std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// `digits` + 1, as a digit string of at least the same width.
std::string increment(const std::string& digits) {
  std::string out = digits;
  int i = static_cast<int>(out.size()) - 1;
  for (; i >= 0; --i) {
    if (out[static_cast<std::size_t>(i)] != '9') {
      ++out[static_cast<std::size_t>(i)];
      return out;
    }
    out[static_cast<std::size_t>(i)] = '0';
  }
  return "1" + out;
}
}  // namespace

std::string next_version(const std::string& last, long long now) {
  if (last.empty()) return "0001";
  const bool all_digits = leading_digits(last).size() == last.size();
  if (all_digits && last.size() >= 12) {
    std::string stamp = last.size() == 13 ? std::to_string(now * 1000) : utc_stamp(now, "%Y%m%d%H%M%S");
    if (compare_versions(stamp, last) <= 0) stamp = increment(last);  // a clock behind the chain
    return stamp;
  }
  std::size_t end = last.size();
  while (end > 0 && !std::isdigit(static_cast<unsigned char>(last[end - 1]))) --end;
  if (end == 0) return last + "_1";
  std::size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(last[begin - 1]))) --begin;
  return last.substr(0, begin) + increment(last.substr(begin, end - begin)) + last.substr(end);
}

std::string newest_version(const Chain& chain) {
  for (auto it = chain.migrations.rbegin(); it != chain.migrations.rend(); ++it)
    if (!it->repeatable) return it->version;
  return "";
}

NewMigration new_migration(const Chain& chain, const std::string& title, const std::string& up_sql,
                           const std::string& down_sql, long long now) {
  const LayoutModule* layout = find_layout(chain.layout);
  if (!layout) throw ConfigError("unknown layout '" + chain.layout + "'");
  for (char c : title)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      throw ConfigError("migration title '" + title + "': use letters, digits, _ and - only");
  const auto made = layout->create(chain, NewMigrationRequest{title, up_sql, down_sql, now});
  for (const auto& [path, content] : made.files) {
    std::error_code ec;
    if (fs::exists(path, ec)) throw ConfigError("new migration " + path + " already exists");
  }
  return NewMigration{made.name, made.files};
}

void refuse_duplicate_versions(const std::vector<Migration>& ms, const char* hint) {
  for (std::size_t i = 1; i < ms.size(); ++i)
    if (!ms[i].repeatable && !ms[i - 1].repeatable && compare_versions(ms[i - 1].version, ms[i].version) == 0)
      throw ConfigError("duplicate migration version " + ms[i].version + ": " + ms[i - 1].up_path + " and " +
                        ms[i].up_path + " (" + hint + ")");
}

const std::vector<const LayoutModule*>& layouts() {
  // Content markers first (a file's annotations say which tool wrote it), then name patterns
  // from the strictest to the loosest.
  static const std::vector<const LayoutModule*> all{
      &kDbmateLayout, &kGooseLayout,  &kNodePgMigrateLayout, &kSqlxLayout,          &kFlywayLayout,         &kPostgratorLayout,
      &kDieselLayout, &kPrismaLayout, &kVersionedDirsLayout, &kGolangMigrateLayout, &kFlatLayout};
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
    // The name goes into the ledger (text in the server's encoding) and into every message.
    if (utf8::first_invalid(name) != std::string::npos)
      throw ConfigError(directory + "/" + utf8::escaped(name) +
                        ": the file name is not valid UTF-8; rename it (the ledger and the messages need it as text)");
    std::error_code entry_ec;  // a dangling symlink is reported when it is read, naming it
    if (entry.is_directory(entry_ec)) {
      l.dirs.push_back(name);
      continue;
    }
    // A FIFO, socket or device would block the read or make no sense as SQL.
    if (entry.exists(entry_ec) && !entry.is_regular_file(entry_ec))
      throw ConfigError(directory + "/" + name + " is not a regular file (a FIFO, socket or device); a migration must be a file");
    l.files.push_back(name);
  }
  if (ec) throw ConfigError("cannot list migrations directory " + directory + ": " + ec.message());
  std::sort(l.files.begin(), l.files.end());
  std::sort(l.dirs.begin(), l.dirs.end());
  return l;
}

// Migrations written in a programming language (goose's .go, node-pg-migrate's .js/.ts, ...)
// would be skipped silently by an SQL runner and the chain would run without them.
void refuse_code_migrations(const DirListing& l) {
  static const char* const kCode[] = {".go", ".js", ".ts", ".cjs", ".mjs", ".cts", ".mts", ".py", ".rb", ".java", ".rs"};
  for (const auto& f : l.files) {
    if (!starts_with_digit(f) && !(f.size() > 1 && (f[0] == 'V' || f[0] == 'R') && f.find("__") != std::string::npos))
      continue;
    for (const char* ext : kCode)
      if (ends_with(f, ext))
        throw ConfigError("migration " + l.path(f) + " is code, not SQL: runbook runs SQL migrations only and would "
                          "skip it. Convert it to a .sql migration, or keep running this chain with its own tool");
  }
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
  refuse_code_migrations(listing);
  for (const auto& d : listing.dirs)
    if (starts_with_digit(d) && layout != &kDieselLayout && layout != &kPrismaLayout && layout != &kVersionedDirsLayout)
      throw ConfigError("migration directory " + listing.path(d) + " is not a " + layout->name + " migration (" +
                        layout->pattern + ")");
  Chain chain;
  chain.directory = directory;
  chain.layout = layout->name;
  chain.ordering = layout->ordering;
  chain.migrations = layout->load(listing);
  // Every file must resolve inside the directory: a symlink to a credentials file elsewhere
  // would be read, hashed and printed by review.
  std::error_code ec;
  const fs::path root = fs::canonical(directory, ec);
  for (const auto& m : chain.migrations)
    for (const std::string* p : {&m.up_path, &m.down_path}) {
      if (p->empty()) continue;
      const fs::path real = fs::canonical(*p, ec);
      if (ec) continue;  // reading it already failed with a message naming it
      const auto rel = real.lexically_relative(root);
      if (rel.empty() || *rel.begin() == "..")
        throw ConfigError("migration " + *p + " resolves to " + real.string() + ", outside the migrations directory " +
                          root.string() + "; a migration must be a file of the directory (copy it in instead of linking)");
    }
  std::set<std::string> names;
  for (auto& m : chain.migrations) {
    if (m.sha256.empty()) m.sha256 = sha256_hex(m.whole_file.empty() ? m.up_sql : m.whole_file);
    if (!names.insert(m.name).second) throw ConfigError("duplicate migration name " + m.name + " in " + directory);
  }
  return chain;
}

}  // namespace rb::migrations
