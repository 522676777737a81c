#pragma once
// Helpers for tests that run the real `runbook` binary against the real PostgreSQL server
// started by scripts/test (libpq variables PGHOST, PGPORT, PGUSER).
#include <sys/types.h>

#include <cstdlib>
#include <future>
#include <map>
#include <string>

#include <nlohmann/json.hpp>
#include <vector>

#include "engine/db.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace rbtest {

// The runbook binary the tests run: RUNBOOK_TEST_BINARY when set (scripts/test-sanitized points
// it at the ASan build), else the one built beside the tests.
inline const char* runbook_binary() {
  const char* b = std::getenv("RUNBOOK_TEST_BINARY");
  return b && *b ? b : RUNBOOK_BINARY;
}

// A TCP listener on 127.0.0.1 that never answers: the kernel completes the handshake, nobody
// ever reads (a server that hangs). Closed when the object goes away.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }
  std::string url() const { return "postgresql://u@127.0.0.1:" + std::to_string(port_) + "/db"; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct CliResult {
  int code = -1;
  std::string out, err;
  std::string all() const { return out + err; }
};

// Runs build/bin/runbook with `args` in `cwd` (default: a scratch dir with no runbooks), with
// extra environment variables. Never reads a terminal: stdin is empty.
CliResult run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                  const std::string& cwd = "", const std::string& stdin_data = "");

// A --checklist file ticking every item of the shipped apply-prod.lua (written once per process):
// tests about something else answer the checklist the way CI does.
std::string prod_checklist();

// Starts `runbook ARGS...` in `dir` without waiting: stdin /dev/null, stdout and stderr into
// `log`, the inherited environment with NO_COLOR=1 and `extra_env` ("NAME=value", replacing an
// inherited NAME). Returns its pid; the caller ends it, by that pid.
pid_t spawn_runbook(const TempDir& dir, const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
                    const std::string& log);

// --json output: its events (of one kind), and the run record its end event names.
void check_event_stream(const std::string& what, int exit_code, const std::string& out);
std::vector<nlohmann::json> events_of(const std::string& out);
std::vector<nlohmann::json> events_of(const std::string& out, const std::string& kind);
nlohmann::json record_of(const std::string& out);

class TempDatabase;

// Runs `runbook` against `db` from `dir` (its cwd), with run records in dir/journal and
// DATABASE_URL set, plus `extra` arguments and `env` variables.
CliResult run_runbook(const TempDir& dir, const TempDatabase& db, const std::string& runbook,
                      const std::vector<std::string>& extra = {}, std::map<std::string, std::string> env = {});

// A fresh database for one test, dropped when the object goes away.
class TempDatabase {
 public:
  explicit TempDatabase(const std::string& prefix = "rb_cli");
  ~TempDatabase();
  const std::string& name() const { return name_; }
  std::string url() const;  // postgresql:///name?host=...&port=...&user=...
  rb::db::Connection connect() const;
  long long count(const std::string& sql) const;  // first column of the first row as integer
  std::string schema_dump() const;                // pg_dump --schema-only

 private:
  std::string name_;
};


// Copies the sample chain (RUNBOOK_SOURCE_DIR/migrations) into `dir`/migrations.
std::string copy_sample_chain(const TempDir& dir);
std::string read_file(const std::string& path);
std::vector<std::string> files_in(const std::string& dir, const std::string& suffix);

// psql -X -At -v ON_ERROR_STOP=1 -c `sql` against `db`: stdout (rows one a line, columns
// separated by '|'). Throws with psql's stderr when it fails.
std::string psql(const TempDatabase& db, const std::string& sql);

// Another session (psql) holding ACCESS SHARE on `table` for `seconds`, as a long report does:
// pg_dump shares it, ALTER TABLE waits for it. pid() is the holder's backend; release() cancels
// it early; the destructor releases and waits for it.
class AccessShareHolder {
 public:
  AccessShareHolder(const TempDatabase& db, const std::string& table, int seconds);
  ~AccessShareHolder();
  AccessShareHolder(const AccessShareHolder&) = delete;
  AccessShareHolder& operator=(const AccessShareHolder&) = delete;
  const std::string& pid() const { return pid_; }
  void release();  // cancels the holder's statement (its transaction ends, the lock goes)
  void wait();     // until the holder has let go

 private:
  const TempDatabase& db_;
  std::string pid_;
  std::future<void> done_;
};

// `bash -c command`: its stdout then stderr, whatever its exit code (a test's own shell step:
// git, script(1), bash completion).
std::string sh(const std::string& command);
// Names of the entries directly in `dir`, sorted (empty when it does not exist).
std::vector<std::string> listing(const std::string& dir);
}  // namespace rbtest
