#pragma once
// A migration chain on disk: which files, in which order, with which hashes.
#include <string>
#include <vector>

namespace rb::migrations {

enum class Layout {
  flat,       // 0001_name.sql
  up_down,    // 0001_name.up.sql + optional 0001_name.down.sql (golang-migrate, sqlx)
  directory,  // 0001_name/up.sql + down.sql (diesel) or 0001_name/migration.sql (Prisma)
  dbmate,     // 0001_name.sql with "-- migrate:up" / "-- migrate:down" sections
};
const char* to_string(Layout layout);

struct Migration {
  std::string version;   // "0001", "20240101120000", "2024-01-01-120000"
  std::string name;      // ledger key: file name, or directory name for the directory layout
  std::string up_path;   // file holding the up SQL
  std::string down_path; // empty when there is no down script
  std::string up_sql;
  std::string down_sql;
  std::string sha256;    // of the up file's bytes (the whole file for dbmate)
  std::string dbmate_file;  // dbmate only: the whole file, which is what sha256 covers
};

struct Chain {
  std::string directory;
  Layout layout = Layout::flat;
  std::vector<Migration> migrations;  // in apply order

  const Migration* find(const std::string& name_or_version) const;
  // Position of a migration by name or version, or -1.
  int index_of(const std::string& name_or_version) const;
};

// Reads every migration once and hashes it. Throws rb::ConfigError naming the file for
// duplicates, unreadable files, missing versions, orphan down scripts and mixed layouts.
Chain load_chain(const std::string& directory);

// Version order: numeric chunks compare as numbers ("2" < "10"), the rest as text.
int compare_versions(const std::string& a, const std::string& b);

// "version" part of a migration name: the text before the first "_" (a leading V/v of a
// Flyway-style name is dropped). Empty when the name does not start with a digit.
std::string version_of(const std::string& name);

}  // namespace rb::migrations
