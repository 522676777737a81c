#pragma once
// A throwaway PostgreSQL cluster: initdb + pg_ctl from installed server binaries, listening only
// on a unix socket in a private directory, fsync off. Rehearsals run the chain there for real
// (engine/shadow.hpp). The cluster is stopped and its directory deleted when the object goes
// away — at the end of the run, on an error, on ^C — and a cluster left behind by a runner that
// was killed (SIGKILL, power loss) is stopped and deleted by the next start.
#include <memory>
#include <string>
#include <vector>

namespace rb::ephemeral {

// One installation of the server binaries (initdb, pg_ctl, postgres).
struct ServerBinaries {
  std::string bin_dir;
  int major = 0;        // 15
  std::string version;  // "15.18"
};

// Every installation found: the directories of $RUNBOOK_PG_BINDIRS (':'-separated), then
// /usr/lib/postgresql/*/bin and /usr/local/pgsql/bin. Ordered by major version.
std::vector<ServerBinaries> installed_servers();

// The binaries for a target of major version `major`: that version where it is installed,
// else the oldest newer one (a newer server loads an older schema dump). Throws
// rb::ConfigError naming what is installed when nothing fits. `bin_dir` non-empty: exactly that.
ServerBinaries choose_server(int major, const std::string& bin_dir = "");

struct StartOptions {
  int major = 0;            // the target's major version; 0 = the newest installed
  std::string bin_dir;      // use exactly these binaries
  std::string parent_dir;   // where the cluster's directory goes; empty = $TMPDIR or /tmp
};

class Cluster {
 public:
  // initdb, then start; throws rb::StepError with initdb's or the server's log on failure (and
  // rb::AbortError when the run is interrupted meanwhile), leaving nothing behind.
  explicit Cluster(const StartOptions& options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Stops the server (fast shutdown, then immediate, then SIGKILL) and deletes the directory.
  // Idempotent; never throws; works while the run is being cancelled.
  void stop() noexcept;
  bool running() const { return postmaster_pid_ > 0; }

  // libpq key=value connection string for a database of this cluster.
  std::string conninfo(const std::string& dbname = "postgres") const;
  const std::string& dir() const { return dir_; }
  const ServerBinaries& server() const { return server_; }
  int postmaster_pid() const { return postmaster_pid_; }

 private:
  void start();
  ServerBinaries server_;
  std::string dir_;
  int postmaster_pid_ = 0;
  static constexpr int kPort = 5432;  // names the socket file only: there is no TCP listener
};

// Stops and deletes the clusters under `parent_dir` (default $TMPDIR or /tmp) whose runner is
// no longer alive. Returns how many. Called by every start; never throws.
int sweep_abandoned(const std::string& parent_dir = "");

}  // namespace rb::ephemeral
