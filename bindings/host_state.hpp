#pragma once
// State shared by the host (host.cpp) and the runbook.host Lua module (lua_host.cpp).
#include <atomic>
#include <memory>
#include <string>

#include "bindings/host.hpp"
#include "bindings/lua_support.hpp"
#include "engine/journal.hpp"
#include "engine/redact.hpp"

namespace rb::lua {

struct HostState {
  HostOptions options;
  Redactor redactor;
  Services services;
  std::string run_id;
  std::unique_ptr<Journal> journal;
};

HostState& host_state(lua_State* L);
void set_host_state(lua_State* L, HostState* state);

// Operator output on stderr, redacted. level: "debug", "info", "step", "warn", "error".
void say(HostState& state, const std::string& level, const std::string& message);

std::string operator_name();
std::string host_name();

}  // namespace rb::lua
