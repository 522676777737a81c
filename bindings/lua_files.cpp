// require "files": reading and (mode-aware) writing of files for runbooks.
#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"
#include "engine/files.hpp"

namespace rb::lua {
namespace {

int files_read(lua_State* L) {
  const std::string content = files::read(check_string(L, 1));
  lua_pushlstring(L, content.data(), content.size());
  return 1;
}

// files.write(path, content [, {overwrite=false}]): in dry-run, says what it would write.
int files_write(lua_State* L) {
  const std::string path = check_string(L, 1);
  const std::string content = check_string(L, 2);
  const bool overwrite = lua_istable(L, 3) && opt_bool_field(L, 3, "overwrite", false);
  auto& s = services(L);
  require_effects(s.mode, "files.write");
  if (!changes_allowed(s.mode)) {
    if (s.say) s.say("would write " + path + " (" + std::to_string(content.size()) + " bytes)");
    if (s.record) s.record("file", {{"path", path}, {"bytes", content.size()}, {"dry_run", true}});
    lua_pushboolean(L, false);
    return 1;
  }
  files::write(path, content, overwrite);
  if (s.record) s.record("file", {{"path", path}, {"bytes", content.size()}});
  lua_pushboolean(L, true);
  return 1;
}

int files_exists(lua_State* L) {
  lua_pushboolean(L, files::exists(check_string(L, 1)));
  return 1;
}

int files_list(lua_State* L) {
  const auto names = files::list(check_string(L, 1));
  lua_createtable(L, static_cast<int>(names.size()), 0);
  for (std::size_t i = 0; i < names.size(); ++i) {
    lua_pushstring(L, names[i].c_str());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

int files_size(lua_State* L) {
  lua_pushnumber(L, static_cast<double>(files::size(check_string(L, 1))));
  return 1;
}

// files.make_private(path): 0600 / 0700. A change to the file system, so not in dry-run.
int files_make_private(lua_State* L) {
  const std::string path = check_string(L, 1);
  require_effects(services(L).mode, "files.make_private");
  if (!changes_allowed(services(L).mode)) return 0;
  files::make_private(path);
  return 0;
}

int files_absolute(lua_State* L) {
  lua_pushstring(L, files::absolute(check_string(L, 1)).c_str());
  return 1;
}

int files_free_space(lua_State* L) {
  lua_pushnumber(L, static_cast<double>(files::free_space(check_string(L, 1))));
  return 1;
}

int files_mkdir(lua_State* L) {
  const std::string dir = check_string(L, 1);
  auto& s = services(L);
  require_effects(s.mode, "files.mkdir");
  if (!changes_allowed(s.mode)) {
    if (s.say) s.say("would create directory " + dir);
    return 0;
  }
  files::make_directories(dir);
  return 0;
}

// files.remove(path): removes a file (a partial backup); in dry-run, says what it would remove.
int files_remove(lua_State* L) {
  const std::string path = check_string(L, 1);
  auto& s = services(L);
  require_effects(s.mode, "files.remove");
  if (!changes_allowed(s.mode)) {
    if (s.say) s.say("would remove " + path);
    lua_pushboolean(L, false);
    return 1;
  }
  const bool removed = files::remove_file(path);
  if (removed && s.record) s.record("file_removed", {{"path", path}});
  lua_pushboolean(L, removed);
  return 1;
}

const luaL_Reg kFilesFunctions[] = {
    {"remove", guarded<files_remove>},
    {"free_space", guarded<files_free_space>},
    {"absolute", guarded<files_absolute>},
    {"make_private", guarded<files_make_private>},
    {"mkdir", guarded<files_mkdir>},
    {"read", guarded<files_read>},
    {"write", guarded<files_write>},
    {"exists", guarded<files_exists>},
    {"list", guarded<files_list>},
    {"size", guarded<files_size>},
    {nullptr, nullptr},
};

}  // namespace

int open_files(lua_State* L) {
  lua_newtable(L);
  set_functions(L, kFilesFunctions);
  return 1;
}

}  // namespace rb::lua
