#pragma once
// Test fixtures shared by the unit and integration tests: a scratch directory removed when it
// goes out of scope, and an engine-independent SHA-256 of a file.
#include <stdio.h>
#include <stdlib.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace rbtest {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rbtest.XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::filesystem::path dir() const { return path_; }
  std::string str() const { return path_; }

  // Writes `content` to `relative` (creating directories) and returns the full path.
  std::string write(const std::string& relative, const std::string& content) const {
    const auto p = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + p.string());
    return p.string();
  }

 private:
  std::string path_;
};

// The SHA-256 of a file as the sha256sum program prints it: independent of the engine.
inline std::string sha256sum(const std::string& path) {
  const std::string cmd = "sha256sum '" + path + "'";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) throw std::runtime_error("cannot run " + cmd);
  std::array<char, 256> buf{};
  std::string out;
  while (fgets(buf.data(), buf.size(), f)) out += buf.data();
  if (pclose(f) != 0 || out.size() < 64) throw std::runtime_error(cmd + " failed");
  return out.substr(0, 64);
}

}  // namespace rbtest
