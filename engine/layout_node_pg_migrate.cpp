// node-pg-migrate SQL migrations (src/sqlMigration.ts, src/migrationLoader.ts): any `*.sql`
// file; the up part starts at a line matching /^\s*--[\s-]*up\s+migration/im and runs to the
// down marker (/^\s*--[\s-]*down\s+migration/im), or to the end; without an up marker the whole
// file is the up. Files run in the order of String.prototype.localeCompare on their paths, which
// is ICU's root collation: spaces and punctuation before digits before letters, letters without
// regard to case first (lowercase before uppercase only to break a tie), digits one by one (so
// `10_x` sorts before `9_x`, as node-pg-migrate runs them). Each migration runs in a transaction.
// Detection needs an up marker in some file; files without one are migrations of the same chain.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "engine/errors.hpp"
#include "engine/layout.hpp"

namespace rb::migrations {
namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// Offset of the first line of the form `--[\s-]*<word>\s+migration` (case-insensitive, leading
// whitespace allowed), or npos.
std::size_t find_marker(const std::string& text, const char* word) {
  const std::size_t wlen = std::strlen(word);
  for (std::size_t at = 0; at < text.size();) {
    std::size_t i = at;
    while (i < text.size() && (space(text[i]))) ++i;
    if (text.compare(i, 2, "--") == 0) {
      i += 2;
      while (i < text.size() && (space(text[i]) || text[i] == '-')) ++i;
      bool word_ok = i + wlen <= text.size();
      for (std::size_t k = 0; word_ok && k < wlen; ++k)
        word_ok = std::tolower(static_cast<unsigned char>(text[i + k])) == word[k];
      if (word_ok) {
        i += wlen;
        const std::size_t ws = i;
        while (i < text.size() && (space(text[i]) || text[i] == '\n')) ++i;
        static const char kMigration[] = "migration";
        bool m_ok = i > ws && i + 9 <= text.size();
        for (std::size_t k = 0; m_ok && k < 9; ++k)
          m_ok = std::tolower(static_cast<unsigned char>(text[i + k])) == kMigration[k];
        if (m_ok) return at;
      }
    }
    const auto nl = text.find('\n', at);
    at = nl == std::string::npos ? text.size() : nl + 1;
  }
  return std::string::npos;
}

// ICU root collation, simplified to ASCII: the primary weight's class and value.
int primary_class(unsigned char c) {
  if (std::isspace(c)) return 0;
  if (std::isdigit(c)) return 2;
  if (std::isalpha(c)) return 3;
  return c < 0x80 ? 1 : 4;  // punctuation and symbols; non-ASCII after (by byte)
}
int primary_value(unsigned char c) {
  // CLDR root order of ASCII punctuation and symbols.
  static const char kPunct[] = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";
  if (primary_class(c) == 1) {
    const char* p = std::strchr(kPunct, c);
    return p ? static_cast<int>(p - kPunct) : 100 + c;
  }
  return std::tolower(c);
}

bool locale_less(const std::string& a, const std::string& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (primary_class(x) != primary_class(y)) return primary_class(x) < primary_class(y);
    if (primary_value(x) != primary_value(y)) return primary_value(x) < primary_value(y);
  }
  if (a.size() != b.size()) return a.size() < b.size();
  for (std::size_t i = 0; i < a.size(); ++i)  // tertiary: lowercase first
    if (a[i] != b[i]) return std::islower(static_cast<unsigned char>(a[i])) != 0;
  return false;
}

std::vector<std::string> recognise(const DirListing& l) {
  std::vector<std::string> out;
  bool marker = false;
  for (const auto& f : l.files) {
    if (!ends_with(f, ".sql")) continue;
    out.push_back(f);
    if (!marker && find_marker(l.read(l.path(f)), "up") != std::string::npos) marker = true;
  }
  if (!marker) out.clear();
  return out;
}

std::vector<Migration> load(const DirListing& l) {
  std::vector<Migration> out;
  for (const auto& f : l.files) {
    if (!ends_with(f, ".sql")) continue;
    Migration m;
    m.name = f;
    m.version = leading_digits(f);
    if (m.version.empty()) m.version = f.substr(0, f.size() - 4);
    m.up_path = l.path(f);
    const std::string text = l.read(m.up_path);
    const std::size_t up = find_marker(text, "up"), down = find_marker(text, "down");
    if (up == std::string::npos && down != std::string::npos)
      throw ConfigError(m.up_path + ":" + std::to_string(1 + std::count(text.begin(), text.begin() + down, '\n')) +
                        ": a '-- Down Migration' marker without an '-- Up Migration' one: node-pg-migrate would run "
                        "the whole file, down part included, as the up migration; add the up marker");
    // The sections start after their marker lines (node-pg-migrate keeps them, but they are
    // comments): a section copied elsewhere carries no marker of its own.
    auto after_line = [&](std::size_t at) {
      const auto nl = text.find('\n', at);
      return nl == std::string::npos ? text.size() : nl + 1;
    };
    const std::size_t up_from = up == std::string::npos ? 0 : after_line(up);
    m.up_sql = keep_only(text, up_from, down != std::string::npos && down > up_from ? down : text.size());
    if (down != std::string::npos) {
      m.down_sql = keep_only(text, after_line(down), up != std::string::npos && up > down ? up : text.size());
      m.down_path = m.up_path;
    }
    m.whole_file = text;
    out.push_back(std::move(m));
  }
  std::stable_sort(out.begin(), out.end(), [&](const Migration& a, const Migration& b) {
    return locale_less(l.path(a.name), l.path(b.name));
  });
  return out;
}

// `<epoch milliseconds>_<title>.sql`, as `node-pg-migrate create` names them.
NewMigrationFiles create(const Chain& c, const NewMigrationRequest& r) {
  const std::string newest = newest_version(c);
  const std::string name = next_version(newest.empty() ? "1000000000000" : newest, r.now) + "_" + r.title + ".sql";
  return {name, {{c.directory + "/" + name, "-- Up Migration\n" + r.up_sql + "\n-- Down Migration\n" + r.down_sql}}};
}

}  // namespace

const LayoutModule kNodePgMigrateLayout{
    "node-pg-migrate", "file path by locale collation (node-pg-migrate: localeCompare); -- Up Migration / -- Down Migration",
    "1700000000000_create-users.sql with -- Up Migration", recognise, load, create};

}  // namespace rb::migrations
