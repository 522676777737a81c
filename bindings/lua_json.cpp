// require "json": decode and encode JSON (run records, HTTP bodies) with nlohmann-json.
#include <set>

#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"

namespace rb::lua {
namespace {

// json.decode(text [, {keys = {...}}]): `keys` keeps only those keys of a top-level object.
int json_decode(lua_State* L) {
  const std::string text = check_string(L, 1);
  if (lua_isnoneornil(L, 2)) {
    push_json(L, parse_json(text, "json.decode"));
    return 1;
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "keys");
  if (!lua_istable(L, -1)) luaL_argerror(L, 2, "{keys = {\"name\", ...}}");
  std::set<std::string> keys;
  for (int i = 1;; ++i) {
    lua_rawgeti(L, -1, i);
    if (lua_isnil(L, -1)) break;
    if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 2, "keys: a list of strings");
    keys.insert(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_settop(L, 1);
  push_json(L, parse_json(text, "json.decode", &keys));
  return 1;
}

int json_encode(lua_State* L) {
  luaL_checkany(L, 1);
  const bool pretty = lua_toboolean(L, 2);
  const std::string text = to_json(L, 1).dump(pretty ? 2 : -1);
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

const luaL_Reg kJsonFunctions[] = {
    {"decode", guarded<json_decode>},
    {"encode", guarded<json_encode>},
    {nullptr, nullptr},
};

}  // namespace

int open_json(lua_State* L) {
  lua_newtable(L);
  set_functions(L, kJsonFunctions);
  return 1;
}

}  // namespace rb::lua
