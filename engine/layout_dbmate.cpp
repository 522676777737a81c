// dbmate (pkg/dbmate/migration.go, db.go): `<version>*.sql` files, the version being the leading
// digits, in file-name order; one file holds both directions after `-- migrate:up` and
// `-- migrate:down`; `-- migrate:up transaction:false` runs the up outside a transaction. The
// ledger hash covers the whole file. Each section keeps its place in the file (the other
// section is blanked, newlines kept), so statement line numbers are the file's.
#include "engine/errors.hpp"
#include "engine/layout.hpp"
#include "engine/hash.hpp"

namespace rb::migrations {
namespace {

const std::string kUp = "-- migrate:up", kDown = "-- migrate:down";

bool marker_at(const std::string& text, std::size_t at) { return at == 0 || text[at - 1] == '\n'; }

std::size_t find_marker(const std::string& text, const std::string& marker) {
  for (std::size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1))
    if (marker_at(text, at)) return at;
  return std::string::npos;
}

std::vector<std::string> recognise(const DirListing& l) {
  std::vector<std::string> out;
  for (const auto& f : l.files)
    if (ends_with(f, ".sql") && starts_with_digit(f) && find_marker(l.read(l.path(f)), kUp) != std::string::npos)
      out.push_back(f);
  return out;
}

std::vector<Migration> load(const DirListing& l) {
  std::vector<Migration> out;
  for (const auto& f : recognise(l)) {
    Migration m;
    m.name = f;
    m.version = leading_digits(f);
    m.up_path = l.path(f);
    const std::string text = l.read(m.up_path);
    const std::size_t up = find_marker(text, kUp), down = find_marker(text, kDown);
    auto line_end = [&](std::size_t at) {
      const auto nl = text.find('\n', at);
      return nl == std::string::npos ? text.size() : nl + 1;
    };
    const std::string up_line = text.substr(up, line_end(up) - up);
    if (up_line.find("transaction:false") != std::string::npos) m.no_transaction = "dbmate transaction:false";
    const std::size_t up_end = down != std::string::npos && down > up ? down : text.size();
    m.up_sql = keep_only(text, line_end(up), up_end);
    if (down != std::string::npos) {
      const std::size_t down_end = down < up ? up : text.size();
      m.down_sql = keep_only(text, line_end(down), down_end);
      if (m.down_sql.find_first_not_of(" \t\r\n") == std::string::npos) m.down_sql.clear();  // an empty down
      else m.down_path = m.up_path;
    }
    m.sha256 = sha256_hex(text);
    m.whole_file = text;
    out.push_back(std::move(m));
  }
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i - 1].version == out[i].version)
      throw ConfigError("duplicate migration version " + out[i].version + ": " + out[i - 1].up_path + " and " +
                        out[i].up_path);
  return out;
}

NewMigrationFiles create(const Chain& c, const NewMigrationRequest& r) {
  const std::string newest = newest_version(c);
  const std::string name = next_version(newest.empty() ? "20000101000000" : newest, r.now) + "_" + r.title + ".sql";
  return {name, {{c.directory + "/" + name, kUp + "\n" + r.up_sql + "\n" + kDown + "\n" + r.down_sql}}};
}

}  // namespace

const LayoutModule kDbmateLayout{"dbmate", "file name (dbmate); -- migrate:up / -- migrate:down sections",
                                 "20240101120000_create_users.sql with -- migrate:up", recognise, load, create};

}  // namespace rb::migrations
