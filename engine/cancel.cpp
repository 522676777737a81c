#include "engine/cancel.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

namespace rb::cancel {

namespace {
std::atomic<int> g_count{0};
std::atomic<int> g_signal{0};
std::atomic<int> g_shields{0};
std::atomic<int> g_cleanup_base{0};  // requests before the current Cleanup scope
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
}

Shield::Shield() noexcept { g_shields.fetch_add(1); }
Shield::~Shield() { g_shields.fetch_sub(1); }
bool shielded() noexcept { return g_shields.load() > 0; }

Cleanup::Cleanup() noexcept : previous_(g_cleanup_base.load()) { g_cleanup_base = g_count.load(); }
Cleanup::~Cleanup() { g_cleanup_base = previous_; }

}  // namespace rb::cancel
