// goose (internal/sqlparser/parser.go, migration.go): `<version>_<name>.sql`, the version being
// the number before the first `_` (an int64 greater than 0), in numeric order. One file holds
// both directions after the annotation lines `-- +goose Up` and `-- +goose Down` (exact spelling
// after the `--`); `-- +goose NO TRANSACTION` runs the file outside a transaction;
// `-- +goose StatementBegin`/`StatementEnd` delimit one statement, which the psql-exact splitter
// finds anyway. `-- +goose ENVSUBST ON` makes goose substitute environment variables, which
// runbook does not do, so such a file is refused. Go migrations (`.go`) are refused by
// load_chain. The ledger hash covers the whole file; sections keep the file's line numbers.
#include <algorithm>

#include "engine/errors.hpp"
#include "engine/layout.hpp"

namespace rb::migrations {
namespace {

// The annotation on a line ("+goose Up"), or "" when the line is not one.
std::string annotation(const std::string& line) {
  if (line.rfind("--", 0) != 0) return "";
  std::string cmd = line.substr(2);
  const auto b = cmd.find_first_not_of(" \t\r\n"), e = cmd.find_last_not_of(" \t\r\n");
  cmd = b == std::string::npos ? "" : cmd.substr(b, e - b + 1);
  return cmd.rfind("+goose ", 0) == 0 ? cmd : "";
}

struct Annotated {
  std::size_t up = std::string::npos, up_body = 0, down = std::string::npos, down_body = 0;
  bool no_transaction = false;
  int envsubst_line = 0;
};

Annotated scan(const std::string& text) {
  Annotated a;
  int line_no = 0;
  for (std::size_t at = 0; at < text.size();) {
    const auto nl = text.find('\n', at);
    const std::size_t next = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    const std::string cmd = annotation(text.substr(at, next - at));
    if (cmd == "+goose Up" && a.up == std::string::npos) a.up = at, a.up_body = next;
    else if (cmd == "+goose Down" && a.down == std::string::npos) a.down = at, a.down_body = next;
    else if (cmd == "+goose NO TRANSACTION") a.no_transaction = true;
    else if (cmd == "+goose ENVSUBST ON" && !a.envsubst_line) a.envsubst_line = line_no;
    at = next;
  }
  return a;
}

bool named_like_goose(const std::string& f) {
  const std::string v = leading_digits(f);
  return !v.empty() && f.size() > v.size() && f[v.size()] == '_' && ends_with(f, ".sql") &&
         v.find_first_not_of('0') != std::string::npos;
}

std::vector<std::string> recognise(const DirListing& l) {
  std::vector<std::string> out;
  for (const auto& f : l.files)
    if (named_like_goose(f) && scan(l.read(l.path(f))).up != std::string::npos) out.push_back(f);
  return out;
}

std::vector<Migration> load(const DirListing& l) {
  std::vector<Migration> out;
  for (const auto& f : l.files) {
    if (!ends_with(f, ".sql")) continue;
    if (!named_like_goose(f))
      throw ConfigError("migration " + l.path(f) + " is not a goose migration name (<version>_<name>.sql, version > 0)");
    Migration m;
    m.name = f;
    m.version = leading_digits(f);
    m.up_path = l.path(f);
    const std::string text = l.read(m.up_path);
    const Annotated a = scan(text);
    if (a.up == std::string::npos)
      throw ConfigError(m.up_path + ": a goose migration must have a '-- +goose Up' annotation line");
    if (a.envsubst_line)
      throw ConfigError(m.up_path + ":" + std::to_string(a.envsubst_line) +
                        ": '-- +goose ENVSUBST ON' asks for environment variable substitution, which runbook does "
                        "not do: write the values into the file or pass them as runbook parameters");
    if (a.down != std::string::npos && a.down < a.up)
      throw ConfigError(m.up_path + ": '-- +goose Down' comes before '-- +goose Up' (goose refuses this file too)");
    m.up_sql = keep_only(text, a.up_body, a.down == std::string::npos ? text.size() : a.down);
    if (a.down != std::string::npos) {
      m.down_sql = keep_only(text, a.down_body, text.size());
      if (m.down_sql.find_first_not_of(" \t\r\n") == std::string::npos) m.down_sql.clear();
      else m.down_path = m.up_path;
    }
    if (a.no_transaction) m.no_transaction = "goose annotation -- +goose NO TRANSACTION";
    m.whole_file = text;
    out.push_back(std::move(m));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Migration& a, const Migration& b) { return compare_numbers(a.version, b.version) < 0; });
  refuse_duplicate_versions(out, "goose versions must be unique");
  return out;
}

NewMigrationFiles create(const Chain& c, const NewMigrationRequest& r) {
  const std::string name = next_version(newest_version(c), r.now) + "_" + r.title + ".sql";
  return {name, {{c.directory + "/" + name, "-- +goose Up\n" + r.up_sql + "\n-- +goose Down\n" + r.down_sql}}};
}

}  // namespace

const LayoutModule kGooseLayout{"goose", "version number before the first _ as an integer (goose); -- +goose Up / Down",
                                "20240101120000_create_users.sql with -- +goose Up", recognise, load, create};

}  // namespace rb::migrations
