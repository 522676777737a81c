#include "engine/heartbeat.hpp"

#include <cmath>

namespace rb::migrations {

Heartbeat::Heartbeat(db::Connection& watched, Say say, std::chrono::milliseconds first, std::chrono::milliseconds every)
    : options_(watched.options()), say_(std::move(say)), first_(first), every_(every) {
  pid_ = static_cast<int>(watched.query("SELECT pg_backend_pid()").rows.at(0).at(0).integer);
  options_.application_name = "runbook heartbeat";
  options_.read_only = true;
  options_.lock_timeout.clear();
  options_.statement_timeout = "2s";  // a beat never waits long on the server it reports on
  thread_ = std::thread([this] { loop(); });
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void Heartbeat::start(const std::string& what) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    what_ = what;
    since_ = std::chrono::steady_clock::now();
    active_ = true;
    ++generation_;
  }
  changed_.notify_all();
}

void Heartbeat::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    active_ = false;
    ++generation_;
  }
  changed_.notify_all();
}

std::string Heartbeat::line(db::Connection& monitor, int pid, const std::string& what, double seconds) {
  std::string out = "  still running " + what + ": " + std::to_string(static_cast<long long>(std::lround(seconds))) + " s";
  auto r = monitor.query(
      "SELECT coalesce(a.state, ''), coalesce(a.wait_event_type, ''), coalesce(a.wait_event, ''),"
      " coalesce((SELECT string_agg(format('pid %s (%s, user %s, %s, %s since %s)', b.pid,"
      "   coalesce(nullif(b.application_name, ''), 'unknown application'), coalesce(b.usename, '?'),"
      "   coalesce(b.client_hostname, host(b.client_addr), 'local socket'), coalesce(b.state, '?'),"
      "   to_char(b.state_change AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')), '; ' ORDER BY b.pid)"
      "   FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(a.pid))), '')"
      " FROM pg_stat_activity a WHERE a.pid = $1",
      {std::to_string(pid)});
  if (r.rows.empty()) return out;
  const auto& row = r.rows[0];
  const std::string& state = row[0].text;
  const std::string& wait_type = row[1].text;
  const std::string& wait = row[2].text;
  const std::string& blockers = row[3].text;
  if (!wait_type.empty()) out += "; waiting for " + wait_type + (wait.empty() ? "" : ": " + wait);
  else if (!state.empty()) out += " (" + state + ")";
  if (!blockers.empty()) out += "; blocked by " + blockers;
  return out;
}

std::string Heartbeat::beat(const std::string& what, double seconds) {
  const std::string plain = "  still running " + what + ": " + std::to_string(static_cast<long long>(std::lround(seconds))) + " s";
  if (monitor_failed_) return plain;
  try {
    if (!monitor_) monitor_ = std::make_unique<db::Connection>(options_);
    return line(*monitor_, pid_, what, seconds);
  } catch (const std::exception&) {
    monitor_failed_ = true;  // no second session (connection limit, a restart): time only
    monitor_.reset();
    return plain;
  }
}

void Heartbeat::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!quit_) {
    if (!active_) {
      changed_.wait(lock, [this] { return quit_ || active_; });
      continue;
    }
    const unsigned long generation = generation_;
    auto next = since_ + first_;
    const auto moved = [&] { return quit_ || !active_ || generation_ != generation; };
    while (!changed_.wait_until(lock, next, moved)) {
      const std::string what = what_;
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
      lock.unlock();
      const std::string text = beat(what, seconds);
      lock.lock();
      if (moved()) break;
      say_(text);
      next += every_;
    }
  }
}

}  // namespace rb::migrations
