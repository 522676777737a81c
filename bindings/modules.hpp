#pragma once
// Openers of the Lua modules the host preloads. One binding file per module.
#include <lua.hpp>

namespace rb::lua {
int open_db(lua_State* L);          // require "db"          bindings/lua_db.cpp
int open_migrations(lua_State* L);  // require "migrations"  bindings/lua_migrations.cpp+bindings/lua_plan.cpp
int open_hash(lua_State* L);        // require "hash"        bindings/lua_hash.cpp
int open_shell(lua_State* L);       // require "shell"       bindings/lua_shell.cpp
int open_http(lua_State* L);        // require "http"        bindings/lua_http.cpp
int open_sql(lua_State* L);         // require "sql"         bindings/lua_sql.cpp
int open_files(lua_State* L);       // require "files"       bindings/lua_files.cpp
int open_json(lua_State* L);        // require "json"        bindings/lua_json.cpp
int open_catalog(lua_State* L);     // require "catalog"     bindings/lua_catalog.cpp
int open_host(lua_State* L);        // require "runbook.host" bindings/lua_host.cpp
}  // namespace rb::lua
