#include "engine/files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "engine/errors.hpp"

namespace fs = std::filesystem;

namespace rb::files {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void write(const std::string& path, const std::string& content, bool overwrite) {
  std::error_code ec;
  if (!overwrite && fs::exists(path, ec)) throw ConfigError("refusing to overwrite existing file " + path);
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) throw ConfigError("cannot create directory " + parent.string() + ": " + ec.message());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw ConfigError("cannot write " + path + ": " + std::strerror(errno));
    out << content;
    if (!out) throw ConfigError("cannot write " + path + ": " + std::strerror(errno));
  }
  fs::rename(tmp, path, ec);
  if (ec) throw ConfigError("cannot write " + path + ": " + ec.message());
}

void make_directories(const std::string& dir) {
  if (dir.empty()) return;
  fs::path so_far;
  for (const auto& part : fs::path(dir)) {
    so_far /= part;
    if (part.empty() || part == "/" || part == "." || part == "..") continue;
    const bool created = ::mkdir(so_far.c_str(), 0700) == 0;
    if (!created && errno != EEXIST)
      throw ConfigError("cannot create directory " + so_far.string() + ": " + std::strerror(errno));
    // runbook's state directory (run records, backups of production data) usually sits inside
    // a repository checkout: keep all of it out of git from the moment it exists.
    if (created && part == ".runbook") {
      const int fd = ::open((so_far / ".gitignore").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) {
        static const char kIgnoreAll[] = "# written by runbook: run records and backups stay out of git\n*\n";
        [[maybe_unused]] const auto n = ::write(fd, kIgnoreAll, sizeof kIgnoreAll - 1);
        ::close(fd);
      }
    }
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw ConfigError("cannot create directory " + dir + ": not a directory");
}

namespace {
// Writes all of `content` to `fd` (0600); closes it. Throws naming `path`.
void write_all(int fd, const std::string& path, const std::string& content, const std::string& unlink_on_error) {
  ::fchmod(fd, 0600);  // a leftover file of another mode
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      if (!unlink_on_error.empty()) ::unlink(unlink_on_error.c_str());
      throw ConfigError("cannot write " + path + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    if (!unlink_on_error.empty()) ::unlink(unlink_on_error.c_str());
    throw ConfigError("cannot write " + path + ": " + why);
  }
}
}  // namespace

void write_private(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw ConfigError("cannot write " + tmp + ": " + std::strerror(errno));
  write_all(fd, path, content, tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw ConfigError("cannot write " + path + ": " + why);
  }
}

void overwrite_private(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw ConfigError("cannot write " + path + ": " + std::strerror(errno));
  write_all(fd, path, content, "");
}

std::string absolute(const std::string& path) {
  return fs::absolute(path).lexically_normal().string();
}

void make_private(const std::string& path) {
  std::error_code ec;
  const auto perms = fs::is_directory(path, ec) ? fs::perms::owner_all : (fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(path, perms, fs::perm_options::replace, ec);
  if (ec) throw ConfigError("cannot restrict permissions of " + path + ": " + ec.message());
}

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::vector<std::string> list(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file()) out.push_back(e.path().filename().string());
  if (ec) throw ConfigError("cannot list " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

long long size(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  if (ec) throw ConfigError("cannot stat " + path + ": " + ec.message());
  return static_cast<long long>(n);
}

long long free_space(const std::string& path) {
  fs::path p = fs::absolute(path);
  std::error_code ec;
  while (!p.empty() && !fs::exists(p, ec)) p = p.parent_path();
  struct statvfs st {};
  if (statvfs(p.c_str(), &st) != 0) throw ConfigError("cannot read free space of " + p.string() + ": " + std::strerror(errno));
  return static_cast<long long>(st.f_bavail) * static_cast<long long>(st.f_frsize);
}

bool remove_file(const std::string& path) {
  std::error_code ec;
  const auto st = fs::symlink_status(path, ec);
  if (ec || !fs::exists(st)) return false;
  if (fs::is_directory(st)) throw ConfigError("refusing to remove " + path + ": it is a directory");
  if (!fs::remove(path, ec) || ec) throw ConfigError("cannot remove " + path + ": " + ec.message());
  return true;
}

}  // namespace rb::files
