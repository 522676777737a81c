#pragma once
// The connection handle shared by the db and migrations bindings.
#include <lua.hpp>

#include "engine/db.hpp"

namespace rb::lua {
// The open connection at `index`; raises a Lua error for anything else or a closed one.
db::Connection& check_connection(lua_State* L, int index);
}  // namespace rb::lua
