#pragma once
// State shared by the host (host.cpp) and the runbook.host Lua module (lua_host.cpp).
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "bindings/host.hpp"
#include "bindings/lua_support.hpp"
#include "engine/checklist.hpp"
#include "engine/journal.hpp"
#include "engine/notify.hpp"
#include "engine/plan.hpp"
#include "engine/redact.hpp"

namespace rb::lua {

struct HostState {
  HostOptions options;
  Redactor redactor;
  Services services;
  std::string run_id;
  std::unique_ptr<Journal> journal;
  bool end_event_sent = false;  // --json: the stream's last event is out
  // The terminal's progress line (options.live_progress): lines said while it shows are
  // printed above it. say() is called from the heartbeat's thread too.
  std::mutex output_mutex;
  std::string progress_line;
  // The run's policy, set once by the runbook core from the composition and the environment;
  // every plan of the run carries it (bindings/lua_plan.cpp).
  migrations::Policy policy;
  bool policy_set = false;
  // The policy's own confirmation (its token, or its yes/no question when it has none) was
  // answered in this run: it counts for every plan of the run.
  std::string run_confirmed_by;
  // The policy's checklist, once answered in this run: it counts for every plan of the run.
  std::optional<checklist::Outcome> policy_checklist;
  // The environment's webhooks (notify = {...}), told of the run's start and end.
  std::vector<notify::Target> notify_targets;
  // Lua code runs interpreted with a count hook (bindings/host.cpp): inside a stoppable region
  // (a step, a failure handler, loading the runbook) a cancellation request raises an
  // "aborted" error at the next hook, once per request.
  // A step that swallows the error with pcall and goes on is stopped again a moment later.
  int stoppable_depth = 0;
  int stop_raised_for = 0;  // cancel::count() the hook last raised for
  // Inside the message handler of a stoppable call (building the failure of the error just
  // raised): a stop raised there would replace the failure with "error in error handling".
  int in_error_handler = 0;
  std::chrono::steady_clock::time_point stop_raised_at{};
};

// Answers a checklist (engine/checklist.hpp): --check, --checklist FILE, then the terminal.
checklist::Outcome answer_checklist(HostState& state, const std::vector<checklist::Item>& items);

// --json: one event per line on stdout, flushed, so a consumer sees each as it happens.
void print_event(HostState& state, const nlohmann::json& event);

// Runs Lua code in a stoppable region for its lifetime.
class StoppableRegion {
 public:
  explicit StoppableRegion(HostState& state) : state_(state) { ++state_.stoppable_depth; }
  ~StoppableRegion() { --state_.stoppable_depth; }
  StoppableRegion(const StoppableRegion&) = delete;
  StoppableRegion& operator=(const StoppableRegion&) = delete;

 private:
  HostState& state_;
};

// Asks the operator (the confirmation gate). A typed token is answered only by the token (at
// a terminal or via --confirm); a yes/no question by "y" at a terminal or --yes. Without
// either it fails closed (AbortError). Dry-run only says what it would ask and returns "".
// Returns how it was answered: "--confirm", "--yes" or "terminal".
std::string ask_operator(HostState& state, const std::string& question, const std::string& token);
// A yes/no question that only a person at a terminal can answer (never --yes): true for yes,
// false when there is no terminal. AbortError when refused.
bool ask_at_terminal(HostState& state, const std::string& question);

HostState& host_state(lua_State* L);
void set_host_state(lua_State* L, HostState* state);

// Operator output on stderr, redacted. level: "debug", "info", "step", "warn", "error".
void say(HostState& state, const std::string& level, const std::string& message);
// Shows `line` as the progress line at the bottom of the terminal ("" removes it).
void show_progress(HostState& state, const std::string& line);

std::string operator_name();
std::string host_name();

}  // namespace rb::lua
