#pragma once
// While a migration runs, a line every few seconds so that a long statement or a lock wait is
// never silent: how long it has run, what its session waits on (pg_stat_activity's wait event)
// and which sessions block it (pg_blocking_pids: pid, application, user, client, state and since
// when — never their SQL, which may hold another team's secret). Read from a second session of
// the same server, opened at the first beat, on a thread of its own.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/db.hpp"

namespace rb::migrations {

class Heartbeat {
 public:
  using Say = std::function<void(const std::string& line)>;
  // `watched`: the session that applies (its pid is read now). `say` is called from the
  // heartbeat's thread.
  Heartbeat(db::Connection& watched, Say say, std::chrono::milliseconds first, std::chrono::milliseconds every);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  void start(const std::string& what);  // a migration begins: beats after `first`, then every `every`
  void stop();                          // it ended (also on errors: see Scope)

  // start() now, stop() when the scope ends, whatever way it ends. A null heartbeat does nothing.
  class Scope {
   public:
    Scope(Heartbeat* h, const std::string& what) : h_(h) { if (h_) h_->start(what); }
    ~Scope() { if (h_) h_->stop(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Heartbeat* h_;
  };

  // The beat's line for `what` after `seconds`, from what `monitor` reads about session `pid`.
  static std::string line(db::Connection& monitor, int pid, const std::string& what, double seconds);

 private:
  void loop();
  std::string beat(const std::string& what, double seconds);

  db::ConnectOptions options_;
  int pid_ = 0;
  Say say_;
  std::chrono::milliseconds first_, every_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool quit_ = false, active_ = false, monitor_failed_ = false;
  unsigned long generation_ = 0;
  std::string what_;
  std::chrono::steady_clock::time_point since_;
  std::unique_ptr<db::Connection> monitor_;  // the heartbeat thread's only
  std::thread thread_;
};

}  // namespace rb::migrations
