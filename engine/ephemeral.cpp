#include "engine/ephemeral.hpp"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "engine/cancel.hpp"
#include "engine/errors.hpp"
#include "engine/shell.hpp"

namespace rb::ephemeral {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "runbook-ephemeral-";
constexpr const char* kOwnerFile = "runner.pid";

bool is_root() { return geteuid() == 0; }

std::string parent_or_default(const std::string& parent) {
  if (!parent.empty()) return parent;
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

bool alive(int pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

int read_pid(const std::string& path) {
  std::ifstream in(path);
  int pid = 0;
  if (in >> pid) return pid;
  return 0;
}

// initdb refuses to run as root: as root the server runs as the `postgres` user (Debian's).
std::vector<std::string> as_server_user(std::vector<std::string> argv) {
  if (!is_root()) return argv;
  argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  return argv;
}

std::string last_lines(const std::string& text, std::size_t n = 12) {
  std::size_t at = text.size();
  for (std::size_t k = 0; k < n && at > 0; ++k) {
    at = text.rfind('\n', at - 1);
    if (at == std::string::npos) return text;
  }
  return text.substr(at + 1);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::optional<ServerBinaries> probe(const std::string& dir) {
  for (const char* tool : {"initdb", "pg_ctl", "postgres"})
    if (access((dir + "/" + tool).c_str(), X_OK) != 0) return std::nullopt;
  Command c;
  c.argv = {dir + "/postgres", "--version"};
  c.timeout_s = 10;
  const auto r = run_command(c);
  static const std::regex version(R"(PostgreSQL\)?\s+(\d+)(\.\d+)?)");
  std::smatch m;
  if (r.exit_code != 0 || !std::regex_search(r.out, m, version)) return std::nullopt;
  ServerBinaries b;
  b.bin_dir = dir;
  b.major = std::stoi(m[1].str());
  b.version = m[1].str() + m[2].str();
  return b;
}

// Stops a postmaster that is not our child: SIGINT (fast shutdown), SIGQUIT (immediate),
// SIGKILL, each given a few seconds.
void stop_postmaster(int pid) {
  for (int sig : {SIGINT, SIGQUIT, SIGKILL}) {
    if (!alive(pid)) return;
    kill(pid, sig);
    for (int i = 0; i < 100 && alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void stop_and_remove(const std::string& dir) {
  int pid = read_pid(dir + "/data/postmaster.pid");
  stop_postmaster(pid);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace

std::vector<ServerBinaries> installed_servers() {
  std::vector<std::string> dirs;
  if (const char* extra = std::getenv("RUNBOOK_PG_BINDIRS")) {
    std::string s = extra;
    for (std::size_t at = 0; at <= s.size();) {
      const auto end = std::min(s.find(':', at), s.size());
      if (end > at) dirs.push_back(s.substr(at, end - at));
      at = end + 1;
    }
  }
  std::error_code ec;
  std::vector<std::string> debian;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) debian.push_back(e.path().string() + "/bin");
  std::sort(debian.begin(), debian.end());
  dirs.insert(dirs.end(), debian.begin(), debian.end());
  dirs.push_back("/usr/local/pgsql/bin");
  std::vector<ServerBinaries> out;
  for (const auto& d : dirs) {
    const auto b = probe(d);
    if (!b) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](const ServerBinaries& o) { return o.major == b->major; });
    if (!seen) out.push_back(*b);
  }
  std::stable_sort(out.begin(), out.end(), [](const ServerBinaries& a, const ServerBinaries& b) { return a.major < b.major; });
  return out;
}

ServerBinaries choose_server(int major, const std::string& bin_dir) {
  if (!bin_dir.empty()) {
    const auto b = probe(bin_dir);
    if (!b) throw ConfigError("no PostgreSQL server binaries (initdb, pg_ctl, postgres) in " + bin_dir);
    return *b;
  }
  const auto all = installed_servers();
  std::string found;
  for (const auto& b : all) found += (found.empty() ? "" : ", ") + std::to_string(b.major) + " (" + b.bin_dir + ")";
  if (all.empty())
    throw ConfigError("no PostgreSQL server binaries installed for an ephemeral cluster (looked in $RUNBOOK_PG_BINDIRS, "
                      "/usr/lib/postgresql/*/bin, /usr/local/pgsql/bin); install the server package (apt-get install "
                      "postgresql-" + std::to_string(major ? major : 15) + ") or set RUNBOOK_PG_BINDIRS");
  if (major == 0) return all.back();
  for (const auto& b : all)
    if (b.major >= major) return b;
  throw ConfigError("the target runs PostgreSQL " + std::to_string(major) + " and the newest server installed here is " +
                    found + ": a shadow must be the same major version or newer. Install postgresql-" +
                    std::to_string(major) + " or point RUNBOOK_PG_BINDIRS at its bin directory");
}

Cluster::Cluster(const StartOptions& options) {
  server_ = choose_server(options.major, options.bin_dir);
  const std::string parent = parent_or_default(options.parent_dir);
  sweep_abandoned(parent);
  std::string pattern = parent + "/" + kPrefix + "XXXXXX";
  if (!mkdtemp(pattern.data()))
    throw StepError("cannot create a directory for an ephemeral cluster under " + parent + ": " + std::strerror(errno));
  dir_ = pattern;
  try {
    std::ofstream(dir_ + "/" + kOwnerFile) << getpid() << "\n";
    if (is_root()) {
      const passwd* pw = getpwnam("postgres");
      if (!pw) throw StepError("running as root, an ephemeral cluster needs the `postgres` user to run the server as");
      if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        throw StepError("cannot hand " + dir_ + " to the postgres user: " + std::strerror(errno));
    }
    chmod(dir_.c_str(), 0700);
    start();
  } catch (...) {
    stop();
    throw;
  }
}

void Cluster::start() {
  Command init;
  init.argv = as_server_user({server_.bin_dir + "/initdb", "-D", dir_ + "/data", "-A", "trust", "-U", "postgres",
                              "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"});
  init.timeout_s = 120;
  const auto i = run_command(init);
  if (i.cancelled) throw AbortError("interrupted (" + cancel::reason() + ") while creating an ephemeral cluster");
  if (i.exit_code != 0)
    throw StepError("initdb of an ephemeral PostgreSQL " + server_.version + " cluster failed (exit " +
                    std::to_string(i.exit_code) + "):\n" + last_lines(i.out + i.err));
  // The -o value is read by pg_ctl's shell: the directory is mkdtemp's, without quotes in it.
  const std::string server_options = "-k '" + dir_ + "' -c listen_addresses='' -p " + std::to_string(kPort) +
                                     " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                                     " -c max_connections=20 -c shared_buffers=32MB";
  Command ctl;
  ctl.argv = as_server_user({server_.bin_dir + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t",
                             "60", "-o", server_options, "start"});
  ctl.timeout_s = 90;
  const auto r = run_command(ctl);
  postmaster_pid_ = read_pid(dir_ + "/data/postmaster.pid");
  if (r.cancelled) throw AbortError("interrupted (" + cancel::reason() + ") while starting an ephemeral cluster");
  if (r.exit_code != 0 || postmaster_pid_ <= 0)
    throw StepError("an ephemeral PostgreSQL " + server_.version + " server did not start:\n" +
                    last_lines(read_file(dir_ + "/server.log") + r.err));
}

Cluster::~Cluster() { stop(); }

void Cluster::stop() noexcept {
  if (dir_.empty()) return;
  try {
    // pg_ctl may have been stopped before it wrote the pid file: give the server a moment.
    for (int k = 0; k < 20 && postmaster_pid_ <= 0; ++k) {
      postmaster_pid_ = read_pid(dir_ + "/data/postmaster.pid");
      if (postmaster_pid_ <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop_postmaster(postmaster_pid_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  } catch (...) {
  }
  postmaster_pid_ = 0;
  dir_.clear();
}

std::string Cluster::conninfo(const std::string& dbname) const {
  return "host='" + dir_ + "' port=" + std::to_string(kPort) + " user=postgres dbname='" + dbname + "'";
}

int sweep_abandoned(const std::string& parent_dir) {
  int swept = 0;
  try {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(parent_or_default(parent_dir), ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(kPrefix, 0) != 0 || !e.is_directory(ec)) continue;
      const int owner = read_pid(e.path().string() + "/" + kOwnerFile);
      if (owner <= 0 || alive(owner)) continue;  // still in use (or not ours to judge)
      stop_and_remove(e.path().string());
      ++swept;
    }
  } catch (...) {
  }
  return swept;
}

}  // namespace rb::ephemeral
