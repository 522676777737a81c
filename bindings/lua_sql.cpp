// require "sql": SQL analysis and lint over engine/sql.hpp. Thin translation only.
//
//   sql.analyze(text [, filename [, {server_version_num = 150000}]])
//     -> {statements = {{text=, line=, kind=, no_transaction_reason= (nil when none),
//                        transaction_control=}, ...},
//         manages_own_transaction=, needs_no_transaction=, extensions_created = {...}}
//   sql.lint(text [, filename [, {server_version_num =, new_tables = {"t", "s.t", ...}}]])
//     -> {{file=, line=, rule=, severity=, message=, destructive=}, ...}
//   sql.excerpt(text, filename, statements [, {max_lines = 200, max_bytes = 16384}])
//     -> text as a reviewer sees it: all of it when it fits, else its head and a line naming
//        what was left out; and true when something was left out. No parse (the caller has
//        the statement count from the plan).
//
// A syntax error raises a "config" error naming the file and line.
#include <algorithm>

#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"
#include "engine/sql.hpp"

namespace rb::lua {

namespace {

void set_string(lua_State* L, const char* key, const std::string& value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}

void set_bool(lua_State* L, const char* key, bool value) {
  lua_pushboolean(L, value);
  lua_setfield(L, -2, key);
}

void set_int(lua_State* L, const char* key, int value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, key);
}

// The optional third argument: an options table, or nil.
int options_index(lua_State* L) {
  if (lua_isnoneornil(L, 3)) return 0;
  luaL_checktype(L, 3, LUA_TTABLE);
  return 3;
}

rb::sql::Script analyze_args(lua_State* L, std::string& filename) {
  std::string text = check_string(L, 1);
  filename = luaL_optstring(L, 2, "<sql>");
  int opts = options_index(L);
  int version =
      opts ? static_cast<int>(opt_number_field(L, opts, "server_version_num", 150000)) : 150000;
  return rb::sql::analyze(text, filename, version);
}

int l_analyze(lua_State* L) {
  std::string filename;
  const rb::sql::Script script = analyze_args(L, filename);

  lua_createtable(L, 0, 4);
  lua_createtable(L, static_cast<int>(script.statements.size()), 0);
  int i = 1;
  for (const auto& st : script.statements) {
    lua_createtable(L, 0, 5);
    set_string(L, "text", st.text);
    set_int(L, "line", st.line);
    set_string(L, "kind", st.kind);
    if (!st.no_transaction_reason.empty())
      set_string(L, "no_transaction_reason", st.no_transaction_reason);
    set_bool(L, "transaction_control", st.transaction_control);
    lua_rawseti(L, -2, i++);
  }
  lua_setfield(L, -2, "statements");
  set_bool(L, "manages_own_transaction", script.manages_own_transaction);
  set_bool(L, "needs_no_transaction", script.needs_no_transaction);
  lua_createtable(L, static_cast<int>(script.extensions_created.size()), 0);
  i = 1;
  for (const auto& name : script.extensions_created) {
    lua_pushlstring(L, name.data(), name.size());
    lua_rawseti(L, -2, i++);
  }
  lua_setfield(L, -2, "extensions_created");
  return 1;
}

int l_lint(lua_State* L) {
  std::string filename;
  const rb::sql::Script script = analyze_args(L, filename);
  rb::sql::LintContext ctx;
  if (int opts = options_index(L)) {
    lua_getfield(L, opts, "new_tables");
    if (!lua_isnil(L, -1)) {
      nlohmann::json names = to_json(L, -1);
      lua_pop(L, 1);
      if (!names.is_array() && !(names.is_object() && names.empty())) {
        throw rb::ConfigError("option 'new_tables' must be a list of table names");
      }
      for (const auto& n : names) {
        if (!n.is_string())
          throw rb::ConfigError("option 'new_tables' must be a list of table names");
        ctx.new_tables.push_back(n.get<std::string>());
      }
    } else {
      lua_pop(L, 1);
    }
  }
  const auto findings = rb::sql::lint(script, filename, ctx);

  lua_createtable(L, static_cast<int>(findings.size()), 0);
  int i = 1;
  for (const auto& f : findings) {
    lua_createtable(L, 0, 6);
    set_string(L, "file", f.file);
    set_int(L, "line", f.line);
    set_string(L, "rule", f.rule);
    set_string(L, "severity", f.severity);
    set_string(L, "message", f.message);
    set_bool(L, "destructive", f.destructive);
    lua_rawseti(L, -2, i++);
  }
  return 1;
}

int l_excerpt(lua_State* L) {
  const std::string text = check_string(L, 1);
  const std::string filename = luaL_optstring(L, 2, "<sql>");
  const auto statements = static_cast<std::size_t>(std::max<lua_Number>(0, luaL_optnumber(L, 3, 0)));
  rb::sql::ExcerptLimits limits;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    limits.max_lines = static_cast<std::size_t>(opt_number_field(L, 4, "max_lines", static_cast<double>(limits.max_lines)));
    limits.max_bytes = static_cast<std::size_t>(opt_number_field(L, 4, "max_bytes", static_cast<double>(limits.max_bytes)));
  }
  const rb::sql::Excerpt e = rb::sql::review_excerpt(text, limits);
  if (!e.cut) {
    lua_pushvalue(L, 1);  // the very string
  } else {
    std::string out = e.text;
    if (out.empty() || out.back() != '\n') out += '\n';
    out += rb::sql::excerpt_note(e, std::string::npos, statements, filename);
    lua_pushlstring(L, out.data(), out.size());
  }
  lua_pushboolean(L, e.cut);
  return 2;
}

}  // namespace

int open_sql(lua_State* L) {
  static const luaL_Reg functions[] = {
      {"analyze", guarded<l_analyze>},
      {"lint", guarded<l_lint>},
      {"excerpt", guarded<l_excerpt>},
      {nullptr, nullptr},
  };
  lua_createtable(L, 0, 3);
  set_functions(L, functions);
  return 1;
}

}  // namespace rb::lua
