#include "engine/chain.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/errors.hpp"
#include "engine/hash.hpp"

namespace fs = std::filesystem;

namespace rb::migrations {

const char* to_string(Layout layout) {
  switch (layout) {
    case Layout::flat: return "flat";
    case Layout::up_down: return "up/down";
    case Layout::directory: return "directory";
    case Layout::dbmate: return "dbmate";
  }
  return "?";
}

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read migration " + path.string() + ": " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read migration " + path.string() + ": read error");
  return buf.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// dbmate keeps up and down in one file, separated by marker comments.
bool split_dbmate(const std::string& text, std::string& up, std::string& down) {
  auto up_at = text.find("-- migrate:up");
  if (up_at == std::string::npos) return false;
  auto down_at = text.find("-- migrate:down");
  auto line_end = [&](std::size_t at) {
    auto nl = text.find('\n', at);
    return nl == std::string::npos ? text.size() : nl + 1;
  };
  if (down_at == std::string::npos) {
    up = text.substr(line_end(up_at));
  } else if (down_at > up_at) {
    up = text.substr(line_end(up_at), down_at - line_end(up_at));
    down = text.substr(line_end(down_at));
  } else {
    down = text.substr(line_end(down_at), up_at - line_end(down_at));
    up = text.substr(line_end(up_at));
  }
  return true;
}

}  // namespace

std::string version_of(const std::string& name) {
  std::size_t start = 0;
  if (name.size() > 1 && (name[0] == 'V' || name[0] == 'v') && std::isdigit(static_cast<unsigned char>(name[1])))
    start = 1;
  if (start >= name.size() || !std::isdigit(static_cast<unsigned char>(name[start]))) return "";
  auto end = name.find('_', start);
  std::string v = name.substr(start, end == std::string::npos ? std::string::npos : end - start);
  // A name without "_" such as "0001.sql": drop the extension.
  if (end == std::string::npos) v = v.substr(0, v.find('.'));
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

Chain load_chain(const std::string& directory) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec))
    throw ConfigError("migrations directory " + directory + " does not exist or is not a directory");
  Chain chain;
  chain.directory = directory;

  std::vector<fs::path> flat, ups, downs, dirs;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.empty() || file[0] == '.') continue;
    if (entry.is_directory()) {
      if (fs::exists(entry.path() / "up.sql") || fs::exists(entry.path() / "migration.sql"))
        dirs.push_back(entry.path());
      else if (!version_of(file).empty())
        throw ConfigError("migration directory " + entry.path().string() +
                          " has neither up.sql nor migration.sql");
    } else if (ends_with(file, ".up.sql")) {
      ups.push_back(entry.path());
    } else if (ends_with(file, ".down.sql")) {
      downs.push_back(entry.path());
    } else if (ends_with(file, ".sql")) {
      flat.push_back(entry.path());
    }
  }
  if (ec) throw ConfigError("cannot list migrations directory " + directory + ": " + ec.message());

  const int kinds = !flat.empty() + !(ups.empty() && downs.empty()) + !dirs.empty();
  if (kinds > 1) {
    auto example = [](const std::vector<fs::path>& v) { return v.empty() ? std::string() : v.front().filename().string(); };
    throw ConfigError("migrations directory " + directory +
                      " mixes layouts (e.g. " + example(flat) + " " + example(ups) + " " +
                      example(dirs) + "); use one layout per directory");
  }

  auto add = [&](Migration m, const fs::path& where) {
    m.version = version_of(m.name);
    if (m.version.empty())
      throw ConfigError("migration " + where.string() + " has no version prefix (expected e.g. 0001_name)");
    chain.migrations.push_back(std::move(m));
  };

  if (!dirs.empty()) {
    chain.layout = Layout::directory;
    for (const auto& d : dirs) {
      Migration m;
      m.name = d.filename().string();
      const bool diesel = fs::exists(d / "up.sql");
      m.up_path = (d / (diesel ? "up.sql" : "migration.sql")).string();
      m.up_sql = read_file(m.up_path);
      if (diesel && fs::exists(d / "down.sql")) {
        m.down_path = (d / "down.sql").string();
        m.down_sql = read_file(m.down_path);
      }
      add(std::move(m), d);
    }
  } else if (!ups.empty() || !downs.empty()) {
    chain.layout = Layout::up_down;
    std::map<std::string, fs::path> down_by_stem;
    for (const auto& d : downs) {
      std::string f = d.filename().string();
      down_by_stem[f.substr(0, f.size() - std::strlen(".down.sql"))] = d;
    }
    for (const auto& u : ups) {
      std::string f = u.filename().string();
      std::string stem = f.substr(0, f.size() - std::strlen(".up.sql"));
      Migration m;
      m.name = f;
      m.up_path = u.string();
      m.up_sql = read_file(u);
      if (auto it = down_by_stem.find(stem); it != down_by_stem.end()) {
        m.down_path = it->second.string();
        m.down_sql = read_file(it->second);
        down_by_stem.erase(it);
      }
      add(std::move(m), u);
    }
    if (!down_by_stem.empty())
      throw ConfigError("down script " + down_by_stem.begin()->second.string() +
                        " has no matching .up.sql file");
  } else {
    chain.layout = Layout::flat;
    bool any_dbmate = false;
    for (const auto& f : flat) {
      Migration m;
      m.name = f.filename().string();
      m.up_path = f.string();
      std::string text = read_file(f);
      std::string up, down;
      if (split_dbmate(text, up, down)) {
        any_dbmate = true;
        m.sha256 = sha256_hex(text);
        m.dbmate_file = text;
        m.up_sql = std::move(up);
        m.down_sql = std::move(down);
        if (!m.down_sql.empty()) m.down_path = m.up_path;
      } else {
        m.up_sql = std::move(text);
      }
      add(std::move(m), f);
    }
    if (any_dbmate) chain.layout = Layout::dbmate;
  }

  for (auto& m : chain.migrations)
    if (m.sha256.empty()) m.sha256 = sha256_hex(m.up_sql);

  std::sort(chain.migrations.begin(), chain.migrations.end(), [](const Migration& a, const Migration& b) {
    int c = compare_versions(a.version, b.version);
    return c != 0 ? c < 0 : a.name < b.name;
  });
  for (std::size_t i = 1; i < chain.migrations.size(); ++i) {
    const auto& a = chain.migrations[i - 1];
    const auto& b = chain.migrations[i];
    if (compare_versions(a.version, b.version) == 0)
      throw ConfigError("duplicate migration version " + b.version + ": " + a.up_path + " and " + b.up_path);
  }
  return chain;
}

}  // namespace rb::migrations
