// require "json": decode and encode JSON (run records, HTTP bodies) with nlohmann-json.
#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"

namespace rb::lua {
namespace {

int json_decode(lua_State* L) {
  const std::string text = check_string(L, 1);
  push_json(L, parse_json(text, "json.decode"));
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
