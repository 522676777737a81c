#include "bindings/lua_support.hpp"

#include "engine/db.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/json_depth.hpp"

namespace rb::lua {

namespace {
const char kServicesKey = 0;  // address used as a unique registry key

int error_tostring(lua_State* L) {
  lua_getfield(L, 1, "message");
  return 1;
}
}  // namespace

void set_services(lua_State* L, Services* s) {
  lua_pushlightuserdata(L, const_cast<char*>(&kServicesKey));
  lua_pushlightuserdata(L, s);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

Services& services(lua_State* L) {
  lua_pushlightuserdata(L, const_cast<char*>(&kServicesKey));
  lua_rawget(L, LUA_REGISTRYINDEX);
  auto* s = static_cast<Services*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (!s) luaL_error(L, "runbook services are not initialised");
  return *s;
}

// "file:line: " of the nearest Lua caller outside the embedded core (runbook.lua), so the
// runbook or library line that made the call is blamed.
std::string caller_location(lua_State* L) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); ++level) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
    if (std::string(ar.source) == "@runbook.lua") continue;
    return std::string(ar.short_src) + ":" + std::to_string(ar.currentline) + ": ";
  }
  return "";
}

void push_error(lua_State* L, const char* kind, const std::string& message, const std::string& sqlstate) {
  // The operator reads the message; the runbook line that called the primitive is kept
  // apart (`where`, shown with -v) so internal lib/*.lua:NNN: never leads an error.
  const std::string where = caller_location(L);
  lua_createtable(L, 0, 4);  // [err]
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushlstring(L, message.data(), message.size());
  lua_setfield(L, -2, "message");
  if (!where.empty()) {
    lua_pushlstring(L, where.data(), where.size() >= 2 ? where.size() - 2 : where.size());
    lua_setfield(L, -2, "where");
  }
  if (!sqlstate.empty()) {
    lua_pushlstring(L, sqlstate.data(), sqlstate.size());
    lua_setfield(L, -2, "sqlstate");
  }
  if (luaL_newmetatable(L, "runbook.error")) {  // [err, mt]
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);  // [err]
}

std::string sqlstate_of(const std::exception& e) {
  if (const auto* sql = dynamic_cast<const db::SqlError*>(&e)) return sql->sqlstate;
  return "";
}

void raise(lua_State* L, const char* kind, const std::string& message) {
  push_error(L, kind, message);
  lua_error(L);
  std::abort();  // unreachable: lua_error does not return
}

void set_functions(lua_State* L, const luaL_Reg* functions) {
  for (; functions->name; ++functions) {
    lua_pushcfunction(L, functions->func);
    lua_setfield(L, -2, functions->name);
  }
}

void push_string_field(lua_State* L, const char* key, const std::string& value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}

std::string check_string(lua_State* L, int index) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, index, &len);
  return std::string(s, len);
}

std::string opt_string_field(lua_State* L, int table, const char* key, const std::string& fallback) {
  lua_getfield(L, table, key);
  std::string out = fallback;
  if (!lua_isnil(L, -1)) {
    if (!lua_isstring(L, -1)) {
      const std::string got = luaL_typename(L, -1);
      lua_pop(L, 1);
      raise(L, "config", std::string("option '") + key + "' must be a string, got " + got);
    }
    size_t len = 0;
    const char* s = lua_tolstring(L, -1, &len);
    out.assign(s, len);
  }
  lua_pop(L, 1);
  return out;
}

double opt_number_field(lua_State* L, int table, const char* key, double fallback) {
  lua_getfield(L, table, key);
  double out = fallback;
  if (!lua_isnil(L, -1)) {
    if (!lua_isnumber(L, -1)) {
      const std::string got = luaL_typename(L, -1);
      lua_pop(L, 1);
      raise(L, "config", std::string("option '") + key + "' must be a number, got " + got);
    }
    out = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return out;
}

bool opt_bool_field(lua_State* L, int table, const char* key, bool fallback) {
  lua_getfield(L, table, key);
  bool out = fallback;
  if (!lua_isnil(L, -1)) {
    if (!lua_isboolean(L, -1)) {
      const std::string got = luaL_typename(L, -1);
      lua_pop(L, 1);
      raise(L, "config", std::string("option '") + key + "' must be a boolean, got " + got);
    }
    out = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return out;
}

namespace {

// Room on the Lua stack for one more level, or a clean error instead of an overflow.
void reserve_stack(lua_State* L, int slots) {
  if (!lua_checkstack(L, slots)) throw StepError("json: out of Lua stack space");
}

std::string too_deep() { return "json: nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels"; }

void push_json_at(lua_State* L, const nlohmann::json& v, int depth) {
  if (v.is_structured()) {
    if (depth > kMaxJsonDepth) throw StepError(too_deep());
    reserve_stack(L, 3);
  }
  switch (v.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded: lua_pushnil(L); break;
    case nlohmann::json::value_t::boolean: lua_pushboolean(L, v.get<bool>()); break;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: lua_pushnumber(L, v.get<double>()); break;
    case nlohmann::json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case nlohmann::json::value_t::array: {
      lua_createtable(L, static_cast<int>(v.size()), 0);
      int i = 1;
      for (const auto& item : v) {
        push_json_at(L, item, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(v.size()));
      for (auto it = v.begin(); it != v.end(); ++it) {
        push_json_at(L, it.value(), depth + 1);
        lua_setfield(L, -2, it.key().c_str());
      }
      break;
    }
    case nlohmann::json::value_t::binary: lua_pushnil(L); break;
  }
}

// The tables being encoded, outermost first, with the key that led into each: a table that is
// already on this path contains itself. (A table reached twice by different paths is fine.)
struct EncodePath {
  std::vector<const void*> tables;
  std::vector<std::string> keys;

  std::string where() const {
    std::string out;
    for (const auto& k : keys) out += (out.empty() ? "" : ".") + k;
    return out;
  }
};

std::string key_text(lua_State* L, int index) {
  lua_pushvalue(L, index);  // copy: lua_tostring would change a number key in place
  const char* s = lua_tostring(L, -1);
  std::string key = s ? s : std::string("(") + luaL_typename(L, -1) + ")";
  lua_pop(L, 1);
  return key;
}

nlohmann::json to_json_at(lua_State* L, int index, EncodePath& path) {
  switch (lua_type(L, index)) {
    case LUA_TNIL: return nullptr;
    case LUA_TBOOLEAN: return static_cast<bool>(lua_toboolean(L, index));
    case LUA_TNUMBER: {
      double d = lua_tonumber(L, index);
      if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) return static_cast<long long>(d);
      return d;
    }
    case LUA_TSTRING: {
      size_t len = 0;
      const char* s = lua_tolstring(L, index, &len);
      return std::string(s, len);
    }
    case LUA_TTABLE: break;
    default: return std::string(luaL_typename(L, index));
  }
  const void* self = lua_topointer(L, index);
  if (std::find(path.tables.begin(), path.tables.end(), self) != path.tables.end())
    throw StepError("json: cannot encode a table that contains itself (at key " + path.where() + ")");
  if (static_cast<int>(path.tables.size()) >= kMaxJsonDepth) throw StepError(too_deep());
  reserve_stack(L, 4);
  path.tables.push_back(self);
  // A table with only keys 1..n is an array; anything else an object.
  size_t n = lua_objlen(L, index);
  size_t count = 0;
  bool string_keys = false;
  lua_pushnil(L);
  while (lua_next(L, index)) {
    ++count;
    if (lua_type(L, -2) != LUA_TNUMBER) string_keys = true;
    lua_pop(L, 1);
  }
  nlohmann::json out;
  if (!string_keys && count == n) {
    out = nlohmann::json::array();  // an empty table is written as [] (lists are the common case in records)
    for (size_t i = 1; i <= n; ++i) {
      lua_rawgeti(L, index, static_cast<int>(i));  // [.., item]
      path.keys.push_back(std::to_string(i));
      out.push_back(to_json_at(L, lua_gettop(L), path));
      path.keys.pop_back();
      lua_pop(L, 1);  // [..]
    }
  } else {
    out = nlohmann::json::object();
    lua_pushnil(L);
    while (lua_next(L, index)) {  // [.., key, value]
      std::string key = key_text(L, -2);
      path.keys.push_back(key);
      out[key] = to_json_at(L, lua_gettop(L), path);
      path.keys.pop_back();
      lua_pop(L, 1);  // [.., key]
    }
  }
  path.tables.pop_back();
  return out;
}

}  // namespace

void push_json(lua_State* L, const nlohmann::json& v) { push_json_at(L, v, 1); }

nlohmann::json to_json(lua_State* L, int index) {
  index = index < 0 ? lua_gettop(L) + index + 1 : index;
  EncodePath path;
  return to_json_at(L, index, path);
}

nlohmann::json parse_json(const std::string& text, const char* who, const std::set<std::string>* only_keys) {
  if (const auto at = json_too_deep_at(text))
    throw StepError(std::string(who) + ": nesting deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels at byte " + std::to_string(*at));
  nlohmann::json::parser_callback_t keep_only;
  if (only_keys) {
    // A key of the top-level object that is not asked for is dropped with its value while
    // parsing: a run record's header is read without building its thousands of events.
    keep_only = [only_keys](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string())
        return only_keys->count(parsed.get<std::string>()) > 0;
      return true;
    };
  }
  auto value = nlohmann::json::parse(text, keep_only, false);
  if (value.is_discarded()) throw ConfigError(std::string(who) + ": not valid JSON");
  return value;
}

}  // namespace rb::lua
