// require "catalog": the user schema of a database (engine/catalog.hpp), a diff of an expected
// schema against it, foreign-key orphans and NOT VALID constraints. Read-only in every mode;
// in inert mode (--describe/--list) refused like every primitive that reads a database.
#include "bindings/lua_db.hpp"
#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"
#include "engine/catalog.hpp"

namespace rb::lua {
namespace {

// A snapshot argument: the table catalog.snapshot returned (or read back from a run record),
// or its JSON text.
void check_snapshot_arg(lua_State* L, int index) {
  if (lua_type(L, index) != LUA_TSTRING && lua_type(L, index) != LUA_TTABLE)
    luaL_argerror(L, index, "a snapshot (the table catalog.snapshot returns, or its JSON text)");
}
catalog::Snapshot to_snapshot(lua_State* L, int index) {
  if (lua_type(L, index) == LUA_TSTRING) return catalog::from_json(parse_json(check_string(L, index), "catalog.diff"));
  return catalog::from_json(to_json(L, index));
}

void push_strings(lua_State* L, const std::vector<std::string>& list) {
  lua_createtable(L, static_cast<int>(list.size()), 0);  // [list]
  for (std::size_t i = 0; i < list.size(); ++i) {
    lua_pushlstring(L, list[i].data(), list[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
}

// catalog.snapshot(conn) -> {database=, server_version=, tables={...}, indexes={...}, constraints={...}}
int catalog_snapshot(lua_State* L) {
  auto& conn = check_connection(L, 1);
  require_effects(services(L).mode, "catalog.snapshot");
  push_json(L, catalog::to_json(catalog::snapshot(conn)));
  return 1;
}

// catalog.diff(expected, actual) -> {"column public.users.email is missing", ...}
int catalog_diff(lua_State* L) {
  check_snapshot_arg(L, 1);  // before any C++ object exists
  check_snapshot_arg(L, 2);
  const auto expected = to_snapshot(L, 1);
  const auto actual = to_snapshot(L, 2);
  push_strings(L, catalog::diff(expected, actual));
  return 1;
}

// catalog.fk_orphans(conn, {sample = 100000}) -> {{constraint=, table=, parent=, columns=, ...}, ...}
int catalog_fk_orphans(lua_State* L) {
  auto& conn = check_connection(L, 1);
  const double sample = lua_istable(L, 2) ? opt_number_field(L, 2, "sample", 100000) : 100000;
  if (sample < 1) luaL_argerror(L, 2, "sample must be at least 1");
  require_effects(services(L).mode, "catalog.fk_orphans");
  const auto list = catalog::fk_orphans(conn, static_cast<long long>(sample));
  lua_createtable(L, static_cast<int>(list.size()), 0);  // [list]
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& o = list[i];
    lua_createtable(L, 0, 9);  // [list, fk]
    push_string_field(L, "constraint", o.constraint);
    push_string_field(L, "table", o.table);
    push_string_field(L, "parent", o.parent);
    push_strings(L, o.columns);
    lua_setfield(L, -2, "columns");
    lua_pushboolean(L, o.validated);
    lua_setfield(L, -2, "validated");
    lua_pushnumber(L, static_cast<double>(o.checked));
    lua_setfield(L, -2, "checked");
    lua_pushnumber(L, static_cast<double>(o.orphans));
    lua_setfield(L, -2, "orphans");
    if (!o.example.empty()) push_string_field(L, "example", o.example);
    lua_pushboolean(L, o.sampled);
    lua_setfield(L, -2, "sampled");
    lua_rawseti(L, -2, static_cast<int>(i + 1));  // [list]
  }
  return 1;
}

// catalog.not_valid(conn) -> {{name=, table=, type=, definition=}, ...}
int catalog_not_valid(lua_State* L) {
  auto& conn = check_connection(L, 1);
  require_effects(services(L).mode, "catalog.not_valid");
  const auto list = catalog::not_valid_constraints(conn);
  lua_createtable(L, static_cast<int>(list.size()), 0);  // [list]
  for (std::size_t i = 0; i < list.size(); ++i) {
    lua_createtable(L, 0, 4);  // [list, constraint]
    push_string_field(L, "name", list[i].name);
    push_string_field(L, "table", list[i].table);
    push_string_field(L, "type", list[i].type);
    push_string_field(L, "definition", list[i].definition);
    lua_rawseti(L, -2, static_cast<int>(i + 1));  // [list]
  }
  return 1;
}

const luaL_Reg kCatalogFunctions[] = {
    {"snapshot", guarded<catalog_snapshot>},
    {"diff", guarded<catalog_diff>},
    {"fk_orphans", guarded<catalog_fk_orphans>},
    {"not_valid", guarded<catalog_not_valid>},
    {nullptr, nullptr},
};

}  // namespace

int open_catalog(lua_State* L) {
  lua_newtable(L);  // [catalog]
  set_functions(L, kCatalogFunctions);
  return 1;
}

}  // namespace rb::lua
