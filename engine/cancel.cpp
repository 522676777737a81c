#include "engine/cancel.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <thread>

namespace rb::cancel {

namespace {
std::atomic<int> g_count{0};
std::atomic<int> g_signal{0};
std::atomic<int> g_shields{0};
std::atomic<int> g_cleanup_base{0};  // requests before the current Cleanup scope

// A deadline's request is recorded under this pseudo signal number.
constexpr int kDeadlineSignal = -1;
struct Slot {
  bool armed = false;
  std::chrono::steady_clock::time_point at;
  std::string label;
};
std::mutex g_deadline_mutex;
Slot g_slots[2];
std::string g_deadline_reason;  // the label of the deadline that fired
}  // namespace

void request(int signal_number) noexcept {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signal_number);
  g_count.fetch_add(1);
}

bool requested() noexcept { return g_count.load() > g_cleanup_base.load(); }
int count() noexcept { return g_count.load(); }

std::string reason() {
  switch (g_signal.load()) {
    case 0: return "";
    case SIGINT: return "^C";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case kDeadlineSignal: {
      std::lock_guard<std::mutex> lock(g_deadline_mutex);
      return g_deadline_reason;
    }
    default: return "signal " + std::to_string(g_signal.load());
  }
}

bool sleep_for(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (requested()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !requested();
}

void reset() noexcept {
  g_count = 0;
  g_cleanup_base = 0;
  g_signal = 0;
  std::lock_guard<std::mutex> lock(g_deadline_mutex);
  for (auto& slot : g_slots) slot = Slot{};
  g_deadline_reason.clear();
}

void set_deadline(Deadline slot, double seconds_from_now, const std::string& label) {
  std::lock_guard<std::mutex> lock(g_deadline_mutex);
  auto& s = g_slots[static_cast<int>(slot)];
  s.armed = true;
  s.at = std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds_from_now));
  s.label = label;
}

void clear_deadline(Deadline slot) {
  std::lock_guard<std::mutex> lock(g_deadline_mutex);
  g_slots[static_cast<int>(slot)] = Slot{};
}

bool check_deadlines() {
  std::string fired;
  {
    std::lock_guard<std::mutex> lock(g_deadline_mutex);
    const auto now = std::chrono::steady_clock::now();
    for (auto& slot : g_slots) {
      if (slot.armed && now >= slot.at) {
        if (fired.empty()) fired = slot.label;
        slot = Slot{};
      }
    }
    if (fired.empty()) return false;
    // The first request names the run's end; a deadline after a signal does not rename it.
    if (g_signal.load() == 0) g_deadline_reason = fired;
  }
  request(kDeadlineSignal);
  return true;
}

bool timed_out() noexcept { return g_signal.load() == kDeadlineSignal; }

Shield::Shield() noexcept { g_shields.fetch_add(1); }
Shield::~Shield() { g_shields.fetch_sub(1); }
bool shielded() noexcept { return g_shields.load() > 0; }

Cleanup::Cleanup() noexcept : previous_(g_cleanup_base.load()) { g_cleanup_base = g_count.load(); }
Cleanup::~Cleanup() { g_cleanup_base = previous_; }

}  // namespace rb::cancel
