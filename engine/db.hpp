#pragma once
// A PostgreSQL session over libpqxx. Values cross as typed cells; parameters are always
// sent separately from the SQL ($1, $2, ...), never interpolated.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/errors.hpp"

namespace rb::db {

struct ConnectOptions {
  std::string conninfo;  // URL or key=value string; empty = libpq environment (PGHOST, ...)
  std::string dbname;    // non-empty: connect to this database of the same server instead
  std::string application_name = "runbook";
  bool read_only = false;         // dry-run: the server itself refuses writes
  std::string lock_timeout;       // e.g. "5s"; empty = server default
  std::string statement_timeout;  // e.g. "15min"
  // A database of this run's own ephemeral cluster (engine/ephemeral.hpp): nobody else's data,
  // so rehearsal and dry-run change it for real (rb::mode_on).
  bool private_cluster = false;
};

enum class CellType { null, boolean, integer, number, text, json };

struct Cell {
  CellType type = CellType::null;
  bool boolean = false;
  long long integer = 0;
  double number = 0;
  std::string text;  // text, json (raw), and integers too large for a Lua number
};

struct Result {
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
  long long affected = 0;
};

using Param = std::optional<std::string>;  // nullopt = SQL NULL

// A statement the server rejected: the message without libpq's "ERROR:  " prefix, and the
// SQLSTATE so callers can tell e.g. a lock timeout (55P03) from a syntax error.
struct SqlError : StepError {
  SqlError(const std::string& message, std::string state) : StepError(message), sqlstate(std::move(state)) {}
  std::string sqlstate;
};

// A failed statement, with what the server said about it.
struct SqlFailure {
  std::string message;   // server message, first line
  std::string sqlstate;  // e.g. "55P03" (lock_not_available)
  std::string query;
  std::string detail;    // the server's DETAIL and HINT, as "\n    DETAIL: ..." lines
  int position = 0;      // 1-based character in `query` where the server found the error; 0: none
  // The message with DETAIL, HINT and SQLSTATE: what an operator-facing error shows.
  std::string explained() const {
    return message + detail + (sqlstate.empty() ? "" : "\n    SQLSTATE " + sqlstate);
  }
};

class Connection {
 public:
  struct Impl;  // holds the pqxx::connection; keeps libpqxx out of this header

  explicit Connection(const ConnectOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result query(const std::string& sql, const std::vector<Param>& params = {});
  // Runs a script of one or more statements with the simple query protocol.
  void run_script(const std::string& sql);
  // Runs statements in one round trip (libpq pipeline mode: each statement its own query, as
  // written); returns the index of the statement that failed (and fills `failure`), or -1
  // when all succeeded. The session may be left inside a failed transaction block: the
  // caller decides to roll back.
  int run_batch(const std::vector<std::string>& statements, SqlFailure& failure);

  bool try_advisory_lock(std::int64_t key);
  void advisory_unlock(std::int64_t key);
  void set(const std::string& name, const std::string& value);
  int server_version() const;  // e.g. 150004
  std::string quote(const std::string& value) const;
  std::string quote_name(const std::string& identifier) const;
  // host:port/dbname as user — never the password.
  std::string describe() const;
  const std::string& database() const { return dbname_; }
  bool read_only() const { return read_only_; }
  void close();
  bool is_open() const;
  // What it was opened with: a second session to the same database (after a lost connection,
  // to check what committed) is opened from these.
  const ConnectOptions& options() const { return options_; }

 private:
  std::unique_ptr<Impl> impl_;
  ConnectOptions options_;
  std::string dbname_, description_;
  bool read_only_ = false;
};

// Asks the server to cancel whatever each open Connection is running (^C). Safe to call
// from another thread: it only sends cancel requests, each on a connection of its own.
void cancel_running_statements();

// `conninfo` (URL or key=value) with its database replaced, as a key=value string.
std::string with_database(const std::string& conninfo, const std::string& dbname);

// `conninfo` as a key=value string without its password, which goes to `password`.
std::string without_password(const std::string& conninfo, std::string& password);

// Adds TCP keepalives (so a killed runner's advisory lock does not linger) to a conninfo
// string or URL unless it sets them itself.
std::string with_keepalives(const std::string& conninfo);

// Classifies a libpqxx/libpq exception thrown by a Connection call.
SqlFailure failure_of(const std::exception& e);

}  // namespace rb::db
