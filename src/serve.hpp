#pragma once
// `runbook serve`: seed 000's parity endpoint and a status page over HTTP (cpp-httplib).
#include <string>
#include <utility>
#include <vector>

namespace rb::serve {

struct Options {
  std::string listen = "127.0.0.1:8080";
  std::vector<std::string> envs;  // served environments; empty: the default one (DATABASE_URL, no --env)
  std::vector<std::pair<std::string, std::string>> sets;  // status.lua parameters (migrations=DIR, ...)
  std::string environments_file, journal_dir;
  std::string self;  // this binary, which answers each request with status.lua
};

// "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80", ":8080" (loopback). Throws rb::ConfigError.
std::pair<std::string, int> parse_listen(const std::string& listen);
bool is_loopback(const std::string& host);

// Serves until SIGINT or SIGTERM. A non-loopback address needs RUNBOOK_SERVE_TOKEN, which every
// request must then bring as `Authorization: Bearer TOKEN`. Returns the exit code.
int run(const Options& options);

}  // namespace rb::serve
