#include "engine/progress.hpp"

#include <algorithm>
#include <cstdio>

#include "engine/utf8.hpp"

namespace rb {

std::string duration_text(double ms) {
  char buf[32];
  if (ms < 1000) std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  else if (ms < 60000) std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000);
  else if (ms < 3600000) std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(ms / 60000), static_cast<int>(ms / 1000) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(ms / 3600000), static_cast<int>(ms / 60000) % 60);
  return buf;
}

Progress::Progress(std::vector<std::string> names, std::map<std::string, double> estimate_ms)
    : names_(std::move(names)), estimate_ms_(std::move(estimate_ms)), done_(names_.size(), false) {}

void Progress::started(std::size_t index, Clock::time_point at) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (index >= names_.size()) return;
  current_ = index;
  current_since_ = at;
}

void Progress::finished(std::size_t index, double ms) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (index >= names_.size() || done_[index]) return;
  done_[index] = true;
  ++finished_;
  finished_ms_ += ms;
  if (current_ == index) current_.reset();
}

double Progress::expected_ms(std::size_t index) const {
  if (auto it = estimate_ms_.find(names_[index]); it != estimate_ms_.end()) return it->second;
  return finished_ ? finished_ms_ / static_cast<double>(finished_) : -1;
}

std::optional<double> Progress::eta_ms(Clock::time_point now) const {
  std::lock_guard<std::mutex> guard(mutex_);
  return eta_locked(now);
}

std::optional<double> Progress::eta_locked(Clock::time_point now) const {
  double left = 0;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (done_[i]) continue;
    const double e = expected_ms(i);
    if (e < 0) return std::nullopt;
    if (current_ == i) {
      const double running = std::chrono::duration<double, std::milli>(now - current_since_).count();
      left += std::max(0.0, e - running);
    } else {
      left += e;
    }
  }
  return left;
}

std::string Progress::line(Clock::time_point now, std::size_t width) const {
  std::lock_guard<std::mutex> guard(mutex_);
  const std::size_t n = names_.size();
  const std::size_t at = current_ ? *current_ + 1 : finished_;
  const double fraction = n ? static_cast<double>(finished_) / static_cast<double>(n) : 1.0;
  constexpr int kBar = 20;
  const int filled = static_cast<int>(fraction * kBar);
  std::string bar(static_cast<std::size_t>(filled), '=');
  if (filled < kBar) bar += '>';
  bar.resize(kBar, ' ');
  char head[64];
  std::snprintf(head, sizeof head, "  [%zu/%zu] [%s] %3d%%", at, n, bar.c_str(), static_cast<int>(fraction * 100));
  std::string tail;
  if (current_)
    tail += "  " + names_[*current_] + " " +
            duration_text(std::chrono::duration<double, std::milli>(now - current_since_).count());
  if (const auto eta = eta_locked(now)) tail += "  ETA " + duration_text(*eta);
  std::string out = head + tail;
  utf8::cut(out, width);
  return out;
}

}  // namespace rb
