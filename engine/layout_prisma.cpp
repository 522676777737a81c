// Prisma Migrate (schema-engine/connectors/schema-connector/src/migrations_directory.rs): every
// sub-directory holding a migration.sql is a migration whatever its name; migrations run in
// the order of their directory names compared as strings, so several may share a numeric
// prefix (`20240304123642_a`, `20240304123642_a_improved`) and `20250625_x` sorts between
// 14-digit names bytewise. migration_lock.toml is not a migration. There are no down scripts.
#include <algorithm>
#include <filesystem>

#include "engine/layout.hpp"

namespace rb::migrations {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> recognise(const DirListing& l) {
  std::vector<std::string> out;
  for (const auto& d : l.dirs)
    if (fs::exists(l.path(d) + "/migration.sql")) out.push_back(d);
  return out;
}

std::vector<Migration> load(const DirListing& l) {
  std::vector<Migration> out;
  for (const auto& d : recognise(l)) {  // l.dirs is sorted bytewise: Prisma's order
    Migration m;
    m.name = d;
    m.version = leading_digits(d);
    if (m.version.empty()) m.version = d;
    m.up_path = l.path(d) + "/migration.sql";
    m.up_sql = l.read(m.up_path);
    out.push_back(std::move(m));
  }
  return out;
}

// `<timestamp>_<title>/migration.sql`; Prisma has no down scripts.
NewMigrationFiles create(const Chain& c, const NewMigrationRequest& r) {
  const std::string newest = newest_version(c);
  const std::string name = next_version(newest.empty() ? "20000101000000" : newest, r.now) + "_" + r.title;
  return {name, {{c.directory + "/" + name + "/migration.sql", r.up_sql}}};
}

}  // namespace

const LayoutModule kPrismaLayout{"prisma", "directory name compared bytewise (Prisma); shared prefixes allowed",
                                 "20240101120000_create_users/migration.sql", recognise, load, create};

}  // namespace rb::migrations
