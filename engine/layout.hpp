#pragma once
// A layout is one migration tool's rules for a directory: which files are migrations, how a
// version is read from a name, the order, how down scripts pair with ups, per-migration
// transaction directives and which files to ignore. One small module per tool
// (engine/layout_*.cpp), each written from that tool's own source; chain.cpp picks one.
#include <map>
#include <string>
#include <vector>

#include "engine/chain.hpp"

namespace rb::migrations {

// A directory's entries, names only, sorted bytewise; dot files left out.
struct DirListing {
  std::string directory;
  std::vector<std::string> files;
  std::vector<std::string> dirs;
  std::string path(const std::string& name) const { return directory + "/" + name; }
  // The bytes of the file at `path` (read_migration_file), read once however many layouts
  // look at it while detecting and loading: a chain of thousands of files is read once.
  const std::string& read(const std::string& path) const;

 private:
  mutable std::map<std::string, std::string> contents_;
};

// What a layout writes for a new migration (forward-fix): its ledger name and its files.
struct NewMigrationFiles {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;  // path, content
};

struct NewMigrationRequest {
  std::string title;     // "revert_add_email": letters, digits, _ and -
  std::string up_sql, down_sql;  // down_sql empty: no down script
  long long now = 0;     // Unix time, for timestamp versions
};

struct LayoutModule {
  const char* name;      // "golang-migrate": what --set layout= takes
  const char* ordering;  // the ordering rule, for parity and --describe
  const char* pattern;   // an example of its names, for the ambiguity error
  // The entries of `listing` this layout recognises as its own (files or directories); 0 when
  // none. Detection picks the layout that recognises every migration-looking entry.
  std::vector<std::string> (*recognise)(const DirListing& listing);
  // The migrations in this layout's order. Throws ConfigError naming the file.
  std::vector<Migration> (*load)(const DirListing& listing);
  // A new migration after the chain's newest, named and written as this tool would.
  NewMigrationFiles (*create)(const Chain& chain, const NewMigrationRequest& request);
};

// Every layout, most specific first (content markers before plain names).
const std::vector<const LayoutModule*>& layouts();
const LayoutModule* find_layout(const std::string& name);

extern const LayoutModule kFlatLayout, kGolangMigrateLayout, kSqlxLayout, kDieselLayout, kPrismaLayout,
    kDbmateLayout, kFlywayLayout, kGooseLayout, kNodePgMigrateLayout, kVersionedDirsLayout, kPostgratorLayout;

// Shared by the modules.
std::string read_migration_file(const std::string& path);
bool ends_with(const std::string& s, const std::string& suffix);
bool starts_with_digit(const std::string& s);
// The leading run of digits of `s` ("" when it does not start with one).
std::string leading_digits(const std::string& s);
// Numeric comparison of two digit strings of any length (leading zeros ignored).
int compare_numbers(const std::string& a, const std::string& b);
// `text` with every byte outside [from, to) blanked to a space, newlines kept: one section of a
// two-direction file that keeps the file's line numbers for errors.
std::string keep_only(const std::string& text, std::size_t from, std::size_t to);
// The version a new migration after `last` gets, in its style: a timestamp (YYYYMMDDHHMMSS, or
// milliseconds for a 13-digit epoch) when `last` is one, else `last` with its last number
// incremented, width kept ("0009" -> "0010", "2.11.0" -> "2.11.1"); "0001" after nothing.
// Always orders after `last`.
std::string next_version(const std::string& last, long long now);
// The newest non-repeatable migration's version, "" for an empty chain.
std::string newest_version(const Chain& chain);
// Throws ConfigError when two neighbours of the ordered `migrations` share a version.
void refuse_duplicate_versions(const std::vector<Migration>& migrations, const char* hint);

}  // namespace rb::migrations
