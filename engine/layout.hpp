#pragma once
// A layout is one migration tool's rules for a directory: which files are migrations, how a
// version is read from a name, the order, how down scripts pair with ups, per-migration
// transaction directives and which files to ignore. One small module per tool
// (engine/layout_*.cpp), each written from that tool's own source; chain.cpp picks one.
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
};

// Every layout, most specific first (content markers before plain names).
const std::vector<const LayoutModule*>& layouts();
const LayoutModule* find_layout(const std::string& name);

extern const LayoutModule kFlatLayout, kGolangMigrateLayout, kSqlxLayout, kDieselLayout, kPrismaLayout,
    kDbmateLayout;

// Shared by the modules.
std::string read_migration_file(const std::string& path);
bool ends_with(const std::string& s, const std::string& suffix);
bool starts_with_digit(const std::string& s);
// The leading run of digits of `s` ("" when it does not start with one).
std::string leading_digits(const std::string& s);
// Numeric comparison of two digit strings of any length (leading zeros ignored).
int compare_numbers(const std::string& a, const std::string& b);

}  // namespace rb::migrations
