#pragma once
// The boundary between Lua and the C++ engine. Every C function registered with Lua goes
// through guarded<>: C++ exceptions are caught there, turned into a Lua error value, and the
// Lua error is raised only after the catch block has been left, so no C++ frame is unwound by
// a longjmp and no exception crosses a Lua frame.
#include <lua.hpp>

#include <functional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/errors.hpp"
#include "engine/mode.hpp"
#include "engine/redact.hpp"

namespace rb::lua {

// What the host hands to every binding. Stored in the Lua registry.
struct Services {
  RunMode mode = RunMode::live;
  Redactor* redactor = nullptr;
  std::string run_id;         // recorded in ledger rows this run writes
  std::string operator_name;  // "user@host", recorded as applied_by
  // Operator-facing line on stderr (already redacted by the callee's caller).
  std::function<void(const std::string&)> say;
  std::function<void(const std::string&)> warn;
  // Set on a terminal only: shows a progress line in place ("" removes it).
  std::function<void(const std::string&)> progress;
  // True once the operator pressed ^C: long operations stop at the next safe point.
  std::function<bool()> interrupted;
  // Adds an event to the run record: kind ("shell", "http", "sql", "artifact", ...) + details.
  std::function<void(const std::string& kind, const nlohmann::json& detail)> record;
};

void set_services(lua_State* L, Services* services);
Services& services(lua_State* L);

// Pushes an error value: a table {kind=, message=} whose __tostring is the message.
// The caller's "file:line" goes to the field `where`, and a server error's SQLSTATE to `sqlstate`.
void push_error(lua_State* L, const char* kind, const std::string& message, const std::string& sqlstate = "");
// The SQLSTATE of a db::SqlError, else "".
std::string sqlstate_of(const std::exception& e);

// Raises a typed error from C++ code that is not inside a try block.
[[noreturn]] void raise(lua_State* L, const char* kind, const std::string& message);

template <int (*Fn)(lua_State*)>
int guarded(lua_State* L) {
  // Only std::exception is caught: LuaJIT raises Lua errors as foreign exceptions on x64,
  // and those must pass through untouched.
  try {
    return Fn(L);
  } catch (const rb::Error& e) {
    push_error(L, e.kind(), e.what(), sqlstate_of(e));
  } catch (const std::exception& e) {
    push_error(L, "failed", e.what());
  }
  return lua_error(L);
}

// Registers functions into the table on top of the stack.
void set_functions(lua_State* L, const luaL_Reg* functions);

// Small conversions used by several modules.
std::string check_string(lua_State* L, int index);
std::string opt_string_field(lua_State* L, int table, const char* key, const std::string& fallback);
double opt_number_field(lua_State* L, int table, const char* key, double fallback);
bool opt_bool_field(lua_State* L, int table, const char* key, bool fallback);
// t[key] = value for the table on top of the stack.
void push_string_field(lua_State* L, const char* key, const std::string& value);
// Pushes a JSON value as the corresponding Lua value (null -> nil). Throws StepError for a
// document nested deeper than rb::kMaxJsonDepth (engine/json_depth.hpp).
void push_json(lua_State* L, const nlohmann::json& value);
// Reads a Lua value (tables, strings, numbers, booleans) as JSON. Throws StepError for a table
// that contains itself (naming the key path) or nests deeper than rb::kMaxJsonDepth.
nlohmann::json to_json(lua_State* L, int index);
// Parses JSON text; `who` prefixes the errors: StepError when it nests deeper than
// rb::kMaxJsonDepth (checked before parsing, with the byte), ConfigError when it is not JSON.
// `only_keys`: of a top-level object, keep only these keys (the rest is skipped while parsing).
nlohmann::json parse_json(const std::string& text, const char* who, const std::set<std::string>* only_keys = nullptr);

// A module opener: pushes the module table and returns 1.
using ModuleOpener = int (*)(lua_State*);

}  // namespace rb::lua
