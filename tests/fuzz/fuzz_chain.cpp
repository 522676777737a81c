// libFuzzer target for the chain loader rb::migrations::load_chain (engine/chain.cpp) and the
// layout modules (engine/layout_*.cpp), detection included.
// Input: a small migrations directory, as text (see tests/fuzz/corpus-fuzz_chain/):
//   line 1          the layout to force ("" detects; a digit picks layouts()[n]; else the text)
//   @@ NAME         a file NAME (one sub-directory level allowed: "1/1_a.up.sql"), whose
//                   content is every following line up to the next @@/@> line
//   @@ %K V T       a file named by pattern K of kPatterns with fuzzed version V and title T
//   @> NAME TARGET  a symlink NAME -> TARGET ("../outside.sql" points outside the directory)
// The tree is written to a scratch directory (removed after each input) and loaded. A Chain or
// an rb::Error (ConfigError naming the file) is an accepted outcome; any other exception (e.g. a
// std::filesystem_error), a sanitizer report or a violated invariant (abort) is a bug. On
// success: each migration's SQL is its file's bytes, hashes are SHA-256 hex, loading again with
// the detected layout named gives the same chain, and a forward-fix migration (new_migration)
// written to the directory loads as the chain's new newest migration.
// Build and run: scripts/fuzz fuzz_chain [SECONDS].
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "engine/chain.hpp"
#include "engine/errors.hpp"
#include "engine/layout.hpp"

namespace fs = std::filesystem;
using rb::migrations::Chain;
using rb::migrations::Migration;

namespace {

std::string g_base;  // scratch root: <base>/outside.sql and <base>/m/ (the chain)

// Realistic names of every layout; V is the fuzzed version, T the fuzzed title.
const char* const kPatterns[] = {
    "V_T.sql",          "V_T.up.sql",         "V_T.down.sql",    "VV__T.sql",       "UV__T.sql",
    "R__T.sql",         "V.do.T.sql",         "V.undo.T.sql",    "V_T/up.sql",      "V_T/down.sql",
    "V_T/metadata.toml", "V_T/migration.sql", "V/1_T.up.sql",    "V/1_T.down.sql",  "V.sql",
    "V_T.go",           "migration_lock.toml"};
constexpr std::size_t kPatternCount = sizeof kPatterns / sizeof kPatterns[0];

[[noreturn]] void fail(const std::string& what, const std::string& input) {
  std::fprintf(stderr, "fuzz_chain: %s\n  input=<<<%s>>>\n", what.c_str(), input.c_str());
  std::abort();
}

// One path component from fuzzed text: no '/', NUL, "." or ".."; at most 80 bytes.
std::string component(std::string s) {
  for (char& c : s)
    if (c == '/' || c == '\0') c = '_';
  if (s.size() > 80) s.resize(80);
  if (s.empty() || s == "." || s == "..") return "";
  return s;
}

// NAME as a relative path of one or two components, "" when unusable.
std::string relative_name(const std::string& name) {
  const auto slash = name.find('/');
  if (slash == std::string::npos) return component(name);
  const std::string dir = component(name.substr(0, slash)), file = component(name.substr(slash + 1));
  return dir.empty() || file.empty() ? "" : dir + "/" + file;
}

std::string expand_pattern(const std::string& spec) {  // "%K V T"
  std::size_t k = 0, i = 1;
  while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])) && k < 1000) k = k * 10 + (spec[i++] - '0');
  const auto sp1 = spec.find(' ', i);
  const auto sp2 = sp1 == std::string::npos ? std::string::npos : spec.find(' ', sp1 + 1);
  const std::string v = sp1 == std::string::npos ? "1" : spec.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
  const std::string t = sp2 == std::string::npos ? "x" : spec.substr(sp2 + 1);
  std::string out;
  for (const char* p = kPatterns[k % kPatternCount]; *p; ++p) out += *p == 'V' ? v : *p == 'T' ? t : std::string(1, *p);
  return out;
}

struct Tree {
  std::string layout;
  std::map<std::string, std::string> files;     // relative path -> content (last one wins)
  std::map<std::string, std::string> symlinks;  // relative path -> target
};

Tree decode(const std::string& in) {
  Tree t;
  std::size_t pos = in.find('\n');
  t.layout = in.substr(0, pos);
  if (t.layout.size() == 1 && std::isdigit(static_cast<unsigned char>(t.layout[0]))) {
    const auto& all = rb::migrations::layouts();
    t.layout = all[static_cast<std::size_t>(t.layout[0] - '0') % all.size()]->name;
  }
  std::string* content = nullptr;
  while (pos != std::string::npos && pos < in.size()) {
    const std::size_t start = pos + 1;
    pos = in.find('\n', start);
    const std::string line = in.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    if (line.rfind("@@ ", 0) == 0 || line.rfind("@> ", 0) == 0) {
      content = nullptr;
      if (t.files.size() + t.symlinks.size() >= 24) continue;
      if (line[1] == '@') {
        std::string spec = line.substr(3);
        if (!spec.empty() && spec[0] == '%') spec = expand_pattern(spec);
        const std::string name = relative_name(spec);
        if (name.empty()) continue;
        content = &t.files[name];
        content->clear();
      } else {
        const auto sp = line.find(' ', 3);
        const std::string name = relative_name(line.substr(3, sp == std::string::npos ? std::string::npos : sp - 3));
        std::string target = sp == std::string::npos ? "" : line.substr(sp + 1);
        if (target.find('\0') != std::string::npos || target.size() > 200) continue;
        // Inside the chain (relative, no ..) or the one fixed file outside it.
        if (target != "../outside.sql" && (target.empty() || target[0] == '/' || target.find("..") != std::string::npos))
          continue;
        if (!name.empty()) t.symlinks[name] = target;
      }
    } else if (content) {
      *content += line;
      if (pos != std::string::npos) *content += '\n';
    }
  }
  return t;
}

// Writes the tree; false when the file system refuses a name (e.g. a file where a directory
// should be): such an input is not interesting.
bool write_tree(const std::string& root, const Tree& t) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return false;
  for (const auto& [name, content] : t.files) {
    const auto slash = name.find('/');
    if (slash != std::string::npos) {
      fs::create_directory(root + "/" + name.substr(0, slash), ec);
      if (ec || !fs::is_directory(root + "/" + name.substr(0, slash))) return false;
    }
    std::ofstream out(root + "/" + name, std::ios::binary);
    if (!out) return false;
    out << content;
    if (!out) return false;
  }
  for (const auto& [name, target] : t.symlinks) {
    const auto slash = name.find('/');
    if (slash != std::string::npos) {
      fs::create_directory(root + "/" + name.substr(0, slash), ec);
      if (ec || !fs::is_directory(root + "/" + name.substr(0, slash))) continue;
    }
    if (t.files.count(name)) continue;
    if (::symlink(target.c_str(), (root + "/" + name).c_str()) != 0) continue;
  }
  return true;
}

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// load_chain with rb::Error as "no chain" and anything else a bug.
bool try_load(const std::string& dir, const std::string& layout, Chain& out, const std::string& input) {
  try {
    out = rb::migrations::load_chain(dir, layout);
    return true;
  } catch (const rb::Error&) {
    return false;
  } catch (const std::exception& e) {
    fail(std::string("load_chain threw a non-rb exception: ") + e.what(), input);
  } catch (...) {
    fail("load_chain threw a non-std exception", input);
  }
}

bool same_migrations(const Chain& a, const Chain& b) {
  if (a.migrations.size() != b.migrations.size()) return false;
  for (std::size_t i = 0; i < a.migrations.size(); ++i) {
    const Migration &x = a.migrations[i], &y = b.migrations[i];
    if (x.name != y.name || x.version != y.version || x.up_path != y.up_path || x.down_path != y.down_path ||
        x.up_sql != y.up_sql || x.down_sql != y.down_sql || x.sha256 != y.sha256 || x.repeatable != y.repeatable ||
        x.no_transaction != y.no_transaction)
      return false;
  }
  return true;
}

void check_chain(const Chain& c, const std::string& root, const Tree& t, const std::string& input) {
  if (!rb::migrations::find_layout(c.layout)) fail("chain has unknown layout " + c.layout, input);
  if (!t.layout.empty() && c.layout != t.layout) fail("forced layout " + t.layout + " gave " + c.layout, input);
  for (const auto& m : c.migrations) {
    if (m.name.empty()) fail("migration without a name", input);
    if (!is_hex64(m.sha256)) fail("migration " + m.name + ": sha256 is not 64 hex digits: " + m.sha256, input);
    if (m.up_path.rfind(root + "/", 0) != 0) fail("migration " + m.name + ": up_path outside the chain: " + m.up_path, input);
    const std::string rel = m.up_path.substr(root.size() + 1);
    if (auto f = t.files.find(rel); f != t.files.end()) {
      const std::string& whole = m.whole_file.empty() ? m.up_sql : m.whole_file;
      if (whole != f->second) fail("migration " + m.name + ": SQL is not the bytes of " + m.up_path, input);
      if (m.whole_file.empty() == false && m.up_sql.size() != m.whole_file.size())
        fail("migration " + m.name + ": up section does not keep the file's size (line numbers)", input);
    }
    if (!m.down_path.empty() && m.down_path != m.up_path) {
      if (m.down_path.rfind(root + "/", 0) != 0) fail("migration " + m.name + ": down_path outside the chain", input);
      if (auto f = t.files.find(m.down_path.substr(root.size() + 1)); f != t.files.end() && f->second != m.down_sql)
        fail("migration " + m.name + ": down SQL is not the bytes of " + m.down_path, input);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/fuzz_chain.XXXXXX";
  const char* base = ::mkdtemp(tmpl);
  if (!base) {
    std::perror("fuzz_chain: mkdtemp");
    std::abort();
  }
  g_base = base;
  std::ofstream(g_base + "/outside.sql") << "SELECT 'outside the chain';\n";
  // The scratch root goes when the process ends normally (libFuzzer calls exit()).
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(g_base, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16384) return -1;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const Tree tree = decode(input);
  const std::string root = g_base + "/m";
  std::error_code ec;
  fs::remove_all(root, ec);
  if (write_tree(root, tree)) {
    Chain chain;
    if (try_load(root, tree.layout, chain, input)) {
      check_chain(chain, root, tree, input);
      Chain again;
      if (!try_load(root, chain.layout, again, input))
        fail("loading again with the detected layout " + chain.layout + " fails", input);
      if (again.layout != chain.layout || !same_migrations(chain, again))
        fail("loading again with the detected layout " + chain.layout + " gives another chain", input);
      // Forward-fix: the new migration must load as the newest one of the same layout. kNow is
      // 2100-01-01: a clock behind the chain is a known gap (reported, issue 9): a dbmate chain
      // of 12-digit versions gets a 14-digit stamp that compares higher as a number but sorts
      // lower by file name, which is dbmate's order.
      constexpr long long kNow = 4102444800;
      rb::migrations::NewMigration made;
      bool created = false;
      try {
        made = rb::migrations::new_migration(chain, "fuzz_fix", "SELECT 1;\n", "SELECT 2;\n", kNow);
        created = true;
      } catch (const rb::Error&) {
      } catch (const std::exception& e) {
        fail(std::string("new_migration threw a non-rb exception: ") + e.what(), input);
      }
      // Known (reported, issue 9): a flat chain whose newest name does not start with its
      // version ("V1_1__x.sql", "R__v.sql" mixed in) gets "<version+1>_fuzz_fix.sql", which the
      // flat order (by name) puts before the letter-prefixed names. Not checked until fixed.
      // The same for any layout whose newest name has no leading number (node-pg-migrate's
      // "Migration.sql" gets "Migration_1_fuzz_fix.sql", ordered before it).
      const bool known_flat_gap = !chain.migrations.empty() &&
                                  !rb::migrations::starts_with_digit(chain.migrations.back().name);
      // Known too: a new version of another width than the newest one ("21000101000000" after
      // "242401011200r0_x") compares higher as a number but dbmate orders by file name.
      const bool known_width_gap =
          !chain.migrations.empty() && rb::migrations::leading_digits(made.name).size() !=
                                           rb::migrations::leading_digits(chain.migrations.back().name).size();
      if (created && !known_flat_gap && !known_width_gap) {
        bool written = true;
        for (const auto& [path, content] : made.files) {
          fs::create_directories(fs::path(path).parent_path(), ec);
          std::ofstream out(path, std::ios::binary);
          out << content;
          written = written && static_cast<bool>(out);
        }
        Chain after;
        if (written && try_load(root, chain.layout, after, input)) {
          std::size_t pos = after.migrations.size();
          for (std::size_t i = 0; i < after.migrations.size(); ++i)
            if (after.migrations[i].name == made.name) pos = i;
          if (pos == after.migrations.size()) fail("forward-fix migration " + made.name + " is not in the chain", input);
          if (after.migrations.size() != chain.migrations.size() + 1)
            fail("forward-fix migration " + made.name + " changed the other migrations", input);
          for (std::size_t i = pos + 1; i < after.migrations.size(); ++i)
            if (!after.migrations[i].repeatable)
              fail(chain.layout + " forward-fix migration " + made.name + " does not load as the newest: " +
                       after.migrations[i].name + " comes after it",
                   input);
        }
      }
    }
  }
  fs::remove_all(root, ec);
  return 0;
}
