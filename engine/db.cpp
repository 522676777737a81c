#include "engine/db.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>

#include <pqxx/pqxx>

#include "engine/cancel.hpp"
#include "engine/errors.hpp"

extern "C" {
#include <libpq-fe.h>
}

namespace rb::db {

namespace {

// PostgreSQL type oids we convert to something better than text.
constexpr unsigned kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700,
                   kFloat8 = 701, kNumeric = 1700, kJson = 114, kJsonb = 3802;

Cell to_cell(const pqxx::field& f) {
  Cell c;
  if (f.is_null()) return c;
  const char* s = f.c_str();
  switch (f.type()) {
    case kBool:
      c.type = CellType::boolean;
      c.boolean = s[0] == 't';
      break;
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid: {
      long long v = std::stoll(s);
      // Beyond 2^53 a Lua number loses digits: keep the exact text instead.
      if (v > 9007199254740992LL || v < -9007199254740992LL) {
        c.type = CellType::text;
        c.text = s;
      } else {
        c.type = CellType::integer;
        c.integer = v;
      }
      break;
    }
    case kFloat4:
    case kFloat8:
    case kNumeric:
      if (std::string_view(s) == "NaN") {
        c.type = CellType::text;
        c.text = s;
      } else {
        c.type = CellType::number;
        c.number = std::stod(s);
      }
      break;
    case kJson:
    case kJsonb:
      c.type = CellType::json;
      c.text.assign(s, f.size());
      break;
    default:
      c.type = CellType::text;
      c.text.assign(s, f.size());
  }
  return c;
}

Result to_result(const pqxx::result& r) {
  Result out;
  out.affected = r.affected_rows();
  const auto ncols = r.columns();
  out.columns.reserve(ncols);
  for (pqxx::row::size_type i = 0; i < ncols; ++i) out.columns.emplace_back(r.column_name(i));
  out.rows.reserve(r.size());
  for (const auto& row : r) {
    std::vector<Cell> cells;
    cells.reserve(ncols);
    for (const auto& f : row) cells.push_back(to_cell(f));
    out.rows.push_back(std::move(cells));
  }
  return out;
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  std::string line = nl == std::string::npos ? s : s.substr(0, nl);
  if (line.rfind("ERROR:  ", 0) == 0) line = line.substr(8);
  return line;
}

// The server's DETAIL and HINT lines of an error ("DETAIL:  Key (id)=(1) already exists."),
// as "\n    DETAIL: ..." lines: what the operator needs to act on.
std::string detail_lines(const std::string& s) {
  std::string out;
  std::size_t start = s.find('\n');
  while (start != std::string::npos) {
    const std::size_t next = s.find('\n', start + 1);
    std::string line = s.substr(start + 1, next == std::string::npos ? std::string::npos : next - start - 1);
    line.erase(0, line.find_first_not_of(' '));  // also our own "\n    DETAIL: ..." form
    for (const char* tag : {"DETAIL:", "HINT:"})
      if (line.rfind(tag, 0) == 0) {
        std::string text = line.substr(std::string(tag).size());
        text.erase(0, text.find_first_not_of(' '));
        out += "\n    " + std::string(tag) + " " + text;
      }
    start = next;
  }
  return out;
}

}  // namespace

namespace {
// The options a URL or key=value string sets, in libpq's order. Throws ConfigError.
std::vector<std::pair<std::string, std::string>> parse_conninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string msg = err ? err : "invalid connection string";
    if (err) PQfreemem(err);
    throw ConfigError("invalid database URL: " + first_line(msg));
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto* o = opts; o->keyword; ++o)
    if (o->val && *o->val) out.emplace_back(o->keyword, o->val);
  PQconninfoFree(opts);
  return out;
}

std::string conninfo_pair(const std::string& key, const std::string& value) {
  std::string out = key + "='";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}
}  // namespace

std::string with_database(const std::string& conninfo, const std::string& dbname) {
  std::string out = conninfo_pair("dbname", dbname);
  for (const auto& [key, value] : parse_conninfo(conninfo))
    if (key != "dbname") out += " " + conninfo_pair(key, value);
  return out;
}

std::string without_password(const std::string& conninfo, std::string& password) {
  password.clear();
  if (conninfo.empty()) return conninfo;
  std::string out;
  for (const auto& [key, value] : parse_conninfo(conninfo)) {
    if (key == "password") {
      password = value;
      continue;
    }
    out += (out.empty() ? "" : " ") + conninfo_pair(key, value);
  }
  return out;
}

// TCP keepalives (a dead peer is noticed) and a connect timeout (a server that accepts and
// never answers does not hang the run), unless the connection string or PGCONNECT_TIMEOUT
// says otherwise.
std::string with_keepalives(const std::string& conninfo) {
  std::string out = conninfo;
  const bool url = conninfo.rfind("postgres://", 0) == 0 || conninfo.rfind("postgresql://", 0) == 0;
  auto add = [&](const char* key, const char* value) {
    if (conninfo.find(key) != std::string::npos) return;
    if (url) out += std::string(out.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
    else out += std::string(out.empty() ? "" : " ") + key + "=" + value;
  };
  if (conninfo.find("keepalives") == std::string::npos) {
    add("keepalives", "1");
    add("keepalives_idle", "30");
    add("keepalives_interval", "10");
    add("keepalives_count", "3");
  }
  if (!std::getenv("PGCONNECT_TIMEOUT")) add("connect_timeout", "10");
  return out;
}

SqlFailure failure_of(const std::exception& e) {
  SqlFailure f;
  f.message = first_line(e.what());
  f.detail = detail_lines(e.what());
  if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    f.sqlstate = sql->sqlstate();
    f.query = sql->query();
  } else if (auto* mine = dynamic_cast<const SqlError*>(&e)) {
    f.sqlstate = mine->sqlstate;
  }
  return f;
}

namespace {
// libpq's error text as one line: "FATAL:  terminating connection ..." without the severity.
std::string server_said(const char* text) {
  std::string line = first_line(text ? text : "");
  for (const char* prefix : {"FATAL:  ", "ERROR:  ", "PANIC:  "})
    if (line.rfind(prefix, 0) == 0) line.erase(0, std::string(prefix).size());
  return line;
}

// Runs `fn`, turning libpqxx's exceptions into SqlError / StepError with clean messages.
// `raw`, when given, is the session: after a lost connection libpqxx 6.4 reports its own
// follow-up failure ("Could not obtain client encoding"), libpq still holds what the server said.
template <typename Fn>
auto translated(Fn&& fn, PGconn* raw = nullptr) -> decltype(fn()) {
  try {
    return fn();
  } catch (const pqxx::sql_error& e) {
    throw SqlError(first_line(e.what()) + detail_lines(e.what()), e.sqlstate());
  } catch (const pqxx::broken_connection& e) {
    std::string why = raw ? server_said(PQerrorMessage(raw)) : "";
    throw StepError("lost the database connection: " + (why.empty() ? first_line(e.what()) : why));
  }
}
}  // namespace

namespace {
PGconn* connect_cancellably(const std::string& conninfo) {
  PGconn* c = PQconnectStart(conninfo.c_str());
  if (!c) throw std::bad_alloc();
  if (PQstatus(c) == CONNECTION_BAD) {
    const std::string why = PQerrorMessage(c);
    PQfinish(c);
    throw pqxx::broken_connection(why);
  }
  double timeout_s = 0;
  if (PQconninfoOption* opts = PQconninfo(c)) {
    for (auto* o = opts; o->keyword; ++o)
      if (std::string(o->keyword) == "connect_timeout" && o->val) timeout_s = std::atof(o->val);
    PQconninfoFree(opts);
  }
  if (timeout_s > 0 && timeout_s < 2) timeout_s = 2;  // libpq's own minimum
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) {
      const std::string why = PQerrorMessage(c);
      PQfinish(c);
      throw pqxx::broken_connection(why);
    }
    pollfd pfd{PQsocket(c), static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    const int ready = ::poll(&pfd, 1, 100);
    if (rb::cancel::requested()) {
      PQfinish(c);
      throw pqxx::broken_connection("interrupted (" + rb::cancel::reason() + ") while connecting");
    }
    if (timeout_s > 0 && std::chrono::steady_clock::now() >= deadline) {
      PQfinish(c);
      throw pqxx::broken_connection("timeout expired (connect_timeout " + std::to_string(static_cast<int>(timeout_s)) +
                                    " s: the server did not answer)");
    }
    if (ready > 0 || (ready < 0 && errno != EINTR)) state = PQconnectPoll(c);
  }
  return c;
}

// libpqxx 6 keeps the libpq handle to itself; a connection policy sees it whenever libpqxx
// (re)connects or disconnects. run_batch needs it for libpq's pipeline mode, which libpqxx 6's
// own pipeline (one query string joined with "; ") is not.
class HandleRecordingPolicy : public pqxx::connect_direct {
 public:
  explicit HandleRecordingPolicy(const std::string& options) : connect_direct(options) {}
  // Connects without blocking (PQconnectStart and PQconnectPoll), so the first ^C, SIGTERM or
  // SIGHUP stops a connect that waits on the network instead of going unheard until libpq's
  // connect_timeout passes; that timeout (from the string or PGCONNECT_TIMEOUT) is kept here.
  handle do_startconnect(handle h) override {
    if (h) return raw = h;
    return raw = connect_cancellably(options());
  }
  handle do_completeconnect(handle h) override { return raw = connect_direct::do_completeconnect(h); }
  handle do_dropconnect(handle h) noexcept override { return raw = connect_direct::do_dropconnect(h); }
  handle do_disconnect(handle h) noexcept override { return raw = connect_direct::do_disconnect(h); }
  PGconn* raw = nullptr;
};

// pqxx::connection with the recording policy (built the way basic_connection_base is).
class PqConnection : public pqxx::connection_base {
 public:
  explicit PqConnection(const std::string& options) : connection_base(policy_), options_(options), policy_(options_) {
    init();
  }
  ~PqConnection() noexcept { close(); }
  PqConnection(const PqConnection&) = delete;
  PqConnection& operator=(const PqConnection&) = delete;
  PGconn* raw() const { return policy_.raw; }

 private:
  std::string options_;
  HandleRecordingPolicy policy_;
};

std::string error_field(const PGresult* r, int field) {
  const char* v = PQresultErrorField(r, field);
  return v ? v : "";
}
}  // namespace

struct Connection::Impl {
  explicit Impl(const std::string& conninfo) : conn(conninfo) {}
  PqConnection conn;
};

namespace {
// Open connections, for cancel_running_statements(). Guarded: the canceller is another thread.
std::mutex g_open_mutex;
std::set<Connection::Impl*> g_open;
}  // namespace

void cancel_running_statements() {
  std::lock_guard<std::mutex> lock(g_open_mutex);
  for (auto* impl : g_open) {
    try {
      impl->conn.cancel_query();
    } catch (...) {
      // Best effort: the statement then simply finishes.
    }
  }
}

Connection::Connection(const ConnectOptions& o) : options_(o), read_only_(o.read_only) {
  try {
    impl_ = std::make_unique<Impl>(with_keepalives(o.dbname.empty() ? o.conninfo : with_database(o.conninfo, o.dbname)));
  } catch (const std::exception& e) {
    throw StepError("cannot connect to PostgreSQL: " + first_line(e.what()));
  }
  auto* conn = &impl_->conn;
  dbname_ = conn->dbname();
  const char* host = conn->hostname();
  const char* port = conn->port();
  description_ = std::string(host && *host ? host : "local socket") + ":" + (port ? port : "") +
                 "/" + dbname_ + " as " + conn->username();
  // One round trip for all session settings.
  std::string settings = "SET application_name = " + conn->quote(o.application_name);
  if (o.read_only) settings += "; SET default_transaction_read_only = on";
  if (!o.lock_timeout.empty()) settings += "; SET lock_timeout = " + conn->quote(o.lock_timeout);
  if (!o.statement_timeout.empty())
    settings += "; SET statement_timeout = " + conn->quote(o.statement_timeout);
  run_script(settings);
  // Registered only once fully set up: a constructor that throws leaves nothing behind.
  std::lock_guard<std::mutex> lock(g_open_mutex);
  g_open.insert(impl_.get());
}

Connection::~Connection() { close(); }

Result Connection::query(const std::string& sql, const std::vector<Param>& params) {
  if (!is_open()) throw StepError("the database connection is closed");
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return translated([&] {
    pqxx::nontransaction w(impl_->conn);
    return to_result(w.exec_params(sql, pqxx::prepare::make_dynamic_params(values)));
  }, impl_->conn.raw());
}

void Connection::run_script(const std::string& sql) {
  if (!is_open()) throw StepError("the database connection is closed");
  translated([&] {
    pqxx::nontransaction w(impl_->conn);
    w.exec(sql);
  }, impl_->conn.raw());
}

int Connection::run_batch(const std::vector<std::string>& statements, SqlFailure& failure) {
  if (!is_open()) throw StepError("the database connection is closed");
  PGconn* c = impl_->conn.raw();
  if (!c || PQenterPipelineMode(c) != 1)
    throw StepError("cannot start a pipeline on the database connection: " + first_line(c ? PQerrorMessage(c) : "no connection"));
  // Each statement is its own query (extended protocol), exactly as written: the server sees
  // the same statement texts psql sends, and an error belongs to exactly one of them.
  bool sent = true;
  for (const auto& s : statements)
    if (!PQsendQueryParams(c, s.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)) {
      sent = false;
      break;
    }
  if (!sent || !PQpipelineSync(c)) {
    const std::string why = first_line(PQerrorMessage(c));
    while (PGresult* r = PQgetResult(c)) PQclear(r);
    PQexitPipelineMode(c);
    throw StepError("lost the database connection while sending a batch: " + why);
  }
  int failed = -1;
  std::size_t index = 0;  // the query whose results come next; a NULL result ends each query's
  for (int nulls_in_a_row = 0;;) {
    PGresult* r = PQgetResult(c);
    if (!r) {
      ++index;
      // Two NULLs in a row: nothing more will come (the connection is gone).
      if (++nulls_in_a_row > 1 && PQstatus(c) != CONNECTION_OK) break;
      continue;
    }
    nulls_in_a_row = 0;
    const auto status = PQresultStatus(r);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      break;
    }
    if (status == PGRES_FATAL_ERROR && failed < 0) {
      failed = static_cast<int>(std::min(index, statements.size() - 1));
      failure.sqlstate = error_field(r, PG_DIAG_SQLSTATE);
      failure.message = error_field(r, PG_DIAG_MESSAGE_PRIMARY);
      if (failure.message.empty()) failure.message = first_line(PQresultErrorMessage(r));
      failure.detail.clear();
      if (auto d = error_field(r, PG_DIAG_MESSAGE_DETAIL); !d.empty()) failure.detail += "\n    DETAIL: " + d;
      if (auto h = error_field(r, PG_DIAG_MESSAGE_HINT); !h.empty()) failure.detail += "\n    HINT: " + h;
      const std::string pos = error_field(r, PG_DIAG_STATEMENT_POSITION);
      failure.position = pos.empty() ? 0 : std::atoi(pos.c_str());
      failure.query = statements[static_cast<std::size_t>(failed)];
    }
    PQclear(r);
  }
  const bool connection_ok = PQstatus(c) == CONNECTION_OK;
  if (connection_ok) PQexitPipelineMode(c);
  if (!connection_ok && failed < 0) throw StepError("lost the database connection: " + first_line(PQerrorMessage(c)));
  return failed;
}

bool Connection::try_advisory_lock(std::int64_t key) {
  auto r = query("SELECT pg_try_advisory_lock($1::bigint)", {std::to_string(key)});
  return r.rows.at(0).at(0).boolean;
}

void Connection::advisory_unlock(std::int64_t key) {
  query("SELECT pg_advisory_unlock($1::bigint)", {std::to_string(key)});
}

void Connection::set(const std::string& name, const std::string& value) {
  query("SELECT set_config($1, $2, false)", {name, value});
}

int Connection::server_version() const { return impl_ ? impl_->conn.server_version() : 0; }

std::string Connection::quote(const std::string& value) const { return impl_->conn.quote(value); }

std::string Connection::quote_name(const std::string& identifier) const {
  return impl_->conn.quote_name(identifier);
}

std::string Connection::describe() const { return description_; }

void Connection::close() {
  if (impl_) {
    {
      std::lock_guard<std::mutex> lock(g_open_mutex);
      g_open.erase(impl_.get());
    }
    impl_->conn.disconnect();
    impl_.reset();
  }
}

bool Connection::is_open() const { return impl_ && impl_->conn.is_open(); }

}  // namespace rb::db
