#pragma once
// A migration chain on disk: which files, in which order, with which hashes.
#include <string>
#include <vector>

namespace rb::migrations {

struct Migration {
  std::string version;   // "0001", "20240101120000", "2024-01-01-120000"
  std::string name;      // ledger key: file name, or directory name for the directory layout
  std::string up_path;   // file holding the up SQL
  std::string down_path; // empty when there is no down script
  std::string up_sql;
  std::string down_sql;
  std::string sha256;    // of the up file's bytes (the whole file for dbmate)
  std::string whole_file;  // when up_sql is one section of a file (dbmate, goose,
                           // node-pg-migrate): the whole file, which is what sha256 covers
  std::string no_transaction;  // the layout's directive to run outside a transaction, e.g.
                               // "sqlx directive -- no-transaction"; empty: the SQL decides
  bool repeatable = false;  // Flyway R__: applied after the versioned ones, again whenever the
                            // file changes; never a gap, an edit is not drift
};

struct Chain {
  std::string directory;
  std::string layout;    // the layout module's name: "flat", "golang-migrate", "diesel", ...
  std::string ordering;  // its ordering rule, in words
  std::vector<Migration> migrations;  // in apply order

  const Migration* find(const std::string& name_or_version) const;
  // Position of a migration by name or version, or -1.
  int index_of(const std::string& name_or_version) const;
};

// Reads every migration once and hashes it, with the rules of `layout` (a name from
// engine/layout.hpp) or, when empty, of the layout detected from the directory. Throws
// rb::ConfigError naming the file for duplicates, unreadable files, orphan down scripts, an
// unknown layout and a directory that two layouts claim.
Chain load_chain(const std::string& directory, const std::string& layout = "");

// A new migration after the newest of `chain`, named and laid out by the chain's layout (for
// forward-fix): returns its ledger name and writes nothing; the files are path/content pairs.
struct NewMigration {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;
};
NewMigration new_migration(const Chain& chain, const std::string& title, const std::string& up_sql,
                           const std::string& down_sql, long long now);

// Version order: numeric chunks compare as numbers ("2" < "10"), the rest as text.
int compare_versions(const std::string& a, const std::string& b);

// "version" part of a migration name: the text before the first "_" (a leading V/v of a
// Flyway-style name is dropped). Empty when the name does not start with a digit.
std::string version_of(const std::string& name);

}  // namespace rb::migrations
