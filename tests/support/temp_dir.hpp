#pragma once
// Test fixtures shared by the unit and integration tests: a scratch directory removed when it
// goes out of scope, and an engine-independent SHA-256 of a file.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace rbtest {

// The secret scan (tests/secret-scan, run last by ctest): with RUNBOOK_TEST_TRANSCRIPTS set (by
// scripts/test), every byte the suite's runs produce is kept there, and every password a test
// uses is registered, so one scan can prove none of them was ever printed or written.
inline const char* transcripts_dir() {
  const char* d = std::getenv("RUNBOOK_TEST_TRANSCRIPTS");
  return d && *d ? d : nullptr;
}

// Appends `content` under a header to this process's transcript file.
inline void keep_transcript(const std::string& header, const std::string& content) {
  const char* d = transcripts_dir();
  if (!d) return;
  std::ofstream out(std::string(d) + "/transcript-" + std::to_string(::getpid()) + ".log",
                    std::ios::binary | std::ios::app);
  out << "==== " << header << "\n" << content << "\n";
}

// A password a test hands to runbook: the scan looks for it (and its percent-encoded form). A
// test's own input files are kept too, so a secret a test writes into a file on purpose (a
// credentials file to be refused) must be another string than the registered ones.
inline void register_secret(const std::string& secret) {
  const char* d = transcripts_dir();
  if (!d) return;
  std::ofstream out(std::string(d) + "/secrets.txt", std::ios::app);
  out << secret << "\n";
}

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
    if (transcripts_dir()) keep_files();
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Everything the test left here (run records, hook output, captured output, backups' files)
  // goes to the transcripts before the directory is removed.
  void keep_files() const {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec) || it->file_size(ec) > (8u << 20)) continue;
      std::ifstream in(it->path(), std::ios::binary);
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      keep_transcript("file " + it->path().string(), content);
    }
  }

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
