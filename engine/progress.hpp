#pragma once
// The progress line of a chain on a terminal: "[37/500] [====>     ] 7%  0037_x.sql 3.2 s  ETA 1m20s".
// The ETA counts each migration still to run at its rehearsal estimate where there is one, else
// at the mean time of those finished in this run; none is shown before there is either.
// Safe to use from two threads (the run's, and the heartbeat's that redraws the line).
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rb {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;
  Progress(std::vector<std::string> names, std::map<std::string, double> estimate_ms);

  void started(std::size_t index, Clock::time_point at = Clock::now());
  void finished(std::size_t index, double ms);
  // Milliseconds still to go, at `now`; nullopt when nothing to base it on.
  std::optional<double> eta_ms(Clock::time_point now = Clock::now()) const;
  // One line, at most `width` characters (UTF-8 names cut on a character boundary).
  std::string line(Clock::time_point now = Clock::now(), std::size_t width = 100) const;

 private:
  double expected_ms(std::size_t index) const;  // < 0: unknown
  std::optional<double> eta_locked(Clock::time_point now) const;

  mutable std::mutex mutex_;
  std::vector<std::string> names_;
  std::map<std::string, double> estimate_ms_;
  std::vector<bool> done_;
  std::size_t finished_ = 0;
  double finished_ms_ = 0;
  std::optional<std::size_t> current_;
  Clock::time_point current_since_{};
};

// "850 ms", "3.2 s", "1m20s", "2h05m".
std::string duration_text(double ms);

}  // namespace rb
