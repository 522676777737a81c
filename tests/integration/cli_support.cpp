#include "cli_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstring>
#include <spawn.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "engine/shell.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace rbtest {

namespace {
std::string require_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v)
    throw std::runtime_error(std::string(name) +
                             " is not set: integration tests need the PostgreSQL server that scripts/test starts");
  return v;
}
std::atomic<int> g_counter{0};

rb::db::ConnectOptions admin_options(const std::string& dbname) {
  rb::db::ConnectOptions o;
  o.conninfo = "dbname=" + dbname;
  o.application_name = "rbtest";
  return o;
}
}  // namespace

CliResult run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                  const std::string& cwd, const std::string& stdin_data) {
  rb::Command c;
  c.argv.push_back(runbook_binary());
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.env = env;
  c.env.emplace("NO_COLOR", "1");
  c.cwd = cwd;
  c.stdin_data = stdin_data;
  c.timeout_s = 120;
  auto r = rb::run_command(c);
  std::string header = "run";
  for (const auto& a : args) header += " " + a;
  keep_transcript(header + " (exit " + std::to_string(r.exit_code) + ")", r.out + r.err);
  if (std::find(args.begin(), args.end(), "--json") != args.end()) check_event_stream(header, r.exit_code, r.out);
  return CliResult{r.exit_code, r.out, r.err};
}

// Every --json run of the suite: each line of stdout is one JSON object, the last an end event
// with the process's exit code. The lines, and the run record the end event names, are kept for
// the schema check that ctest runs after the suites (tests/validate-events).
void check_event_stream(const std::string& what, int exit_code, const std::string& out) {
  INFO(what);
  INFO("stdout:\n" << out);
  const char* keep = std::getenv("RUNBOOK_TEST_TRANSCRIPTS");
  std::ofstream events, records;
  if (keep && *keep) {
    events.open(std::string(keep) + "/events.ndjson", std::ios::app);
    records.open(std::string(keep) + "/records.ndjson", std::ios::app);
  }
  std::istringstream lines(out);
  std::string line;
  nlohmann::json last;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    ++n;
    nlohmann::json e;
    try {
      e = nlohmann::json::parse(line);
    } catch (const std::exception& ex) {
      FAIL_CHECK("--json line " << n << " is not JSON (" << ex.what() << "): " << line);
      continue;
    }
    CHECK(e.is_object());
    if (n == 1) CHECK((e.value("event", "") == "run" || e.value("event", "") == "end"));
    if (events.is_open()) events << line << "\n";
    last = e;
  }
  REQUIRE(n > 0);
  CHECK(last.value("event", "") == "end");
  CHECK(last.value("exit_code", -1) == exit_code);
  if (records.is_open() && last.contains("record") && last["record"].is_string()) {
    std::ifstream in(last["record"].get<std::string>());
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      try {
        records << nlohmann::json::parse(ss.str()).dump() << "\n";
      } catch (const std::exception& ex) {
        FAIL_CHECK("the run record " << last["record"] << " is not JSON: " << ex.what());
      }
    }
  }
}

AccessShareHolder::AccessShareHolder(const TempDatabase& db, const std::string& table, int seconds) : db_(db) {
  done_ = std::async(std::launch::async, [this, table, seconds] {
    try {
      psql(db_, "BEGIN; LOCK TABLE " + table + " IN ACCESS SHARE MODE; SELECT pg_sleep(" + std::to_string(seconds) + "); COMMIT;");
    } catch (const std::exception&) {
      // cancelled by release(): that is how it lets go
    }
  });
  for (int i = 0; i < 200 && pid_.empty(); ++i) {
    pid_ = psql(db_, "SELECT pid FROM pg_locks WHERE locktype = 'relation' AND mode = 'AccessShareLock'"
                     " AND relation = '" + table + "'::regclass AND granted AND pid <> pg_backend_pid()");
    while (!pid_.empty() && (pid_.back() == '\n' || pid_.back() == ' ')) pid_.pop_back();
    if (pid_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (pid_.empty()) throw std::runtime_error("the lock holder on " + table + " did not start");
}

void AccessShareHolder::release() {
  // Only while it still holds: a backend pid that has gone may be someone else's a moment later.
  if (!done_.valid() || done_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) return;
  try {
    psql(db_, "SELECT pg_cancel_backend(" + pid_ + ")");
  } catch (const std::exception&) {
  }
}

void AccessShareHolder::wait() {
  if (done_.valid()) done_.get();
}

AccessShareHolder::~AccessShareHolder() {
  release();
  wait();
}

pid_t spawn_runbook(const TempDir& dir, const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
                    const std::string& log) {
  std::vector<std::string> env{"NO_COLOR=1"};
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  auto replaced = [&](const std::string& entry) {
    const std::string name = entry.substr(0, entry.find('=') + 1);
    return std::any_of(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(name, 0) == 0; });
  };
  for (char** e = environ; *e; ++e)
    if (!replaced(*e)) env.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> all{runbook_binary()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  posix_spawn_file_actions_addchdir_np(&actions, dir.path().c_str());
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + all[0] + ": " + std::strerror(rc));
  return pid;
}

std::string prod_checklist() {
  static const std::string path = [] {
    const std::string p = (fs::temp_directory_path() / ("rbtest-prod-checklist-" + std::to_string(getpid()) + ".txt")).string();
    std::ofstream(p) << "# every item of apply-prod.lua's checklist, as a CI job would answer them\n"
                        "approvals: rbtest\nwindow\nstakeholders\non-call\nrollback-plan\n";
    return p;
  }();
  return path;
}

std::vector<nlohmann::json> events_of(const std::string& out) {
  std::vector<nlohmann::json> all;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty()) all.push_back(nlohmann::json::parse(line));
  return all;
}

std::vector<nlohmann::json> events_of(const std::string& out, const std::string& kind) {
  std::vector<nlohmann::json> some;
  for (auto& e : events_of(out))
    if (e.value("event", "") == kind) some.push_back(std::move(e));
  return some;
}

nlohmann::json record_of(const std::string& out) {
  const auto ends = events_of(out, "end");
  if (ends.empty() || !ends.back()["record"].is_string()) throw std::runtime_error("no end event naming a run record in:\n" + out);
  std::ifstream in(ends.back()["record"].get<std::string>());
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

SilentServer::SilentServer() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 8) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("cannot listen on 127.0.0.1");
  port_ = ntohs(addr.sin_port);
}

SilentServer::~SilentServer() {
  if (fd_ >= 0) ::close(fd_);
}

CliResult run_runbook(const TempDir& dir, const TempDatabase& db, const std::string& runbook,
                      const std::vector<std::string>& extra, std::map<std::string, std::string> env) {
  std::vector<std::string> args{runbook, "--journal", dir.path() + "/journal"};
  args.insert(args.end(), extra.begin(), extra.end());
  env.emplace("DATABASE_URL", db.url());
  return run_cli(args, env, dir.path());
}

TempDatabase::TempDatabase(const std::string& prefix) {
  require_env("PGHOST");
  name_ = prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(++g_counter);
  rb::db::Connection admin(admin_options("postgres"));
  admin.run_script("DROP DATABASE IF EXISTS " + name_);
  admin.run_script("CREATE DATABASE " + name_);
}

TempDatabase::~TempDatabase() {
  try {
    rb::db::Connection admin(admin_options("postgres"));
    admin.run_script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {
  }
}

std::string TempDatabase::url() const {
  return "postgresql:///" + name_ + "?host=" + require_env("PGHOST") + "&port=" + require_env("PGPORT") +
         "&user=" + require_env("PGUSER");
}

rb::db::Connection TempDatabase::connect() const {
  return rb::db::Connection(admin_options(name_));
}

long long TempDatabase::count(const std::string& sql) const {
  auto c = connect();
  auto r = c.query(sql);
  if (r.rows.empty()) return 0;
  const auto& cell = r.rows[0][0];
  if (cell.type == rb::db::CellType::boolean) return cell.boolean ? 1 : 0;
  return cell.integer;
}

std::string TempDatabase::schema_dump() const {
  rb::Command c;
  c.argv = {"pg_dump", "--schema-only", "--no-owner", "-d", name_};
  auto r = rb::run_command(c);
  if (r.exit_code != 0) throw std::runtime_error("pg_dump failed: " + r.err);
  // pg_dump 15.14+ writes a random \restrict key into every dump: not part of the schema.
  std::istringstream in(r.out);
  std::string line, dump;
  while (std::getline(in, line))
    if (line.rfind("\\restrict", 0) != 0 && line.rfind("\\unrestrict", 0) != 0) dump += line + "\n";
  return dump;
}


std::string copy_sample_chain(const TempDir& dir) {
  const fs::path to = fs::path(dir.path()) / "migrations";
  fs::copy(fs::path(RUNBOOK_SOURCE_DIR) / "migrations", to, fs::copy_options::recursive);
  return to.string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> files_in(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().string();
    if (f.size() >= suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0) out.push_back(f);
  }
  return out;
}

std::string psql(const TempDatabase& db, const std::string& sql) {
  rb::Command c;
  c.argv = {"psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db.name(), "-c", sql};
  c.timeout_s = 60;
  auto r = rb::run_command(c);
  if (r.exit_code != 0) throw std::runtime_error("psql failed: " + r.err);
  return r.out;
}

std::string sh(const std::string& command) {
  rb::Command c;
  c.argv = {"bash", "-c", command};
  c.timeout_s = 120;
  auto r = rb::run_command(c);
  return r.out + r.err;
}

std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace rbtest
