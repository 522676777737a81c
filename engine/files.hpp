#pragma once
// Small file operations the runbooks need (forward-fix writes a migration), kept in the
// engine so the Lua sandbox can route every write through the run mode.
#include <string>
#include <vector>

namespace rb::files {

std::string read(const std::string& path);  // throws rb::ConfigError naming the path
// Writes via a temporary file and rename, creating parent directories. Refuses to replace
// an existing file unless `overwrite`.
void write(const std::string& path, const std::string& content, bool overwrite);
bool exists(const std::string& path);
// Owner-only permissions (0600 for a file, 0700 for a directory): backups hold production data.
void make_private(const std::string& path);
// `path` made absolute against the current directory (not resolving links).
std::string absolute(const std::string& path);
// Creates the missing directories of `dir` with mode 0700 (owner only: backups and run records
// hold production data); an existing directory's mode is never changed.
void make_directories(const std::string& dir);
// Writes `content` to `path` atomically (temporary file in the same directory, then rename),
// the file created 0600; a failure leaves the previous file as it was.
void write_private(const std::string& path, const std::string& content);
// The same written over the file in place (0600), not atomic: only for when there is no room
// for a second copy (a full disk), where truncating the old one is what frees the space.
void overwrite_private(const std::string& path, const std::string& content);
// Removes a file (never a directory); false when there was none. ConfigError naming the path.
bool remove_file(const std::string& path);
// Regular files in `dir` (names only), sorted.
std::vector<std::string> list(const std::string& dir);
long long size(const std::string& path);
// Bytes available to an unprivileged user on the file system holding `path` (statvfs);
// `path` may not exist yet: its nearest existing parent is used.
long long free_space(const std::string& path);

}  // namespace rb::files
