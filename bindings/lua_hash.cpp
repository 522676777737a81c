// require "hash": SHA-256 of strings and files, HMAC-SHA-256. Hex output.
#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"
#include "engine/hash.hpp"

namespace rb::lua {

namespace {

extern const luaL_Reg kFunctions[];

void push_string(lua_State* L, const std::string& s) { lua_pushlstring(L, s.data(), s.size()); }

// hash.sha256(s) -> hex
int sha256(lua_State* L) {
  size_t len = 0;
  const char* data = luaL_checklstring(L, 1, &len);
  push_string(L, sha256_hex(std::string_view(data, len)));
  return 1;
}

// hash.sha256_file(path) -> hex; raises a config error naming the path
int sha256_file(lua_State* L) {
  luaL_checkstring(L, 1);
  push_string(L, sha256_file_hex(check_string(L, 1)));
  return 1;
}

// hash.hmac_sha256(key, s) -> hex
int hmac_sha256(lua_State* L) {
  size_t key_len = 0, data_len = 0;
  const char* key = luaL_checklstring(L, 1, &key_len);
  const char* data = luaL_checklstring(L, 2, &data_len);
  push_string(L, hmac_sha256_hex(std::string_view(key, key_len), std::string_view(data, data_len)));
  return 1;
}

}  // namespace

int open_hash(lua_State* L) {
  lua_createtable(L, 0, 3);  // [hash]
  set_functions(L, kFunctions);
  return 1;
}

namespace {

const luaL_Reg kFunctions[] = {
    {"sha256", guarded<sha256>},
    {"sha256_file", guarded<sha256_file>},
    {"hmac_sha256", guarded<hmac_sha256>},
    {nullptr, nullptr},
};

}  // namespace

}  // namespace rb::lua
