#include "bindings/lua_support.hpp"

#include <cmath>

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

void push_error(lua_State* L, const char* kind, const std::string& message) {
  std::string text = caller_location(L) + message;
  lua_createtable(L, 0, 2);  // [err]
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushlstring(L, text.data(), text.size());
  lua_setfield(L, -2, "message");
  if (luaL_newmetatable(L, "runbook.error")) {  // [err, mt]
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);  // [err]
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

void push_json(lua_State* L, const nlohmann::json& v) {
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
        push_json(L, item);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(v.size()));
      for (auto it = v.begin(); it != v.end(); ++it) {
        push_json(L, it.value());
        lua_setfield(L, -2, it.key().c_str());
      }
      break;
    }
    case nlohmann::json::value_t::binary: lua_pushnil(L); break;
  }
}

nlohmann::json to_json(lua_State* L, int index) {
  index = index < 0 ? lua_gettop(L) + index + 1 : index;
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
    case LUA_TTABLE: {
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
      if (!string_keys && count == n) {
        auto arr = nlohmann::json::array();
        for (size_t i = 1; i <= n; ++i) {
          lua_rawgeti(L, index, static_cast<int>(i));
          arr.push_back(to_json(L, -1));
          lua_pop(L, 1);
        }
        return arr;  // an empty table is written as [] (lists are the common case in records)
      }
      auto obj = nlohmann::json::object();
      lua_pushnil(L);
      while (lua_next(L, index)) {
        lua_pushvalue(L, -2);  // copy key: lua_tostring would change a number key in place
        std::string key = lua_tostring(L, -1) ? lua_tostring(L, -1) : "?";
        lua_pop(L, 1);
        obj[key] = to_json(L, -1);
        lua_pop(L, 1);
      }
      return obj;
    }
    default: {
      return std::string(luaL_typename(L, index));
    }
  }
}

}  // namespace rb::lua
