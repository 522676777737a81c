// require "db": PostgreSQL sessions for runbooks. Parameters travel separately ($1, $2, ...);
// rows come back as tables keyed by column name, SQL NULL as nil.
#include "bindings/lua_db.hpp"

#include <cmath>
#include <cstdio>

#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"

extern "C" {
#include <libpq-fe.h>
}

namespace rb::lua {
namespace {

constexpr const char* kConnType = "rb.db.conn";

struct ConnHandle {
  db::Connection* conn;  // owned; nullptr once closed
};

ConnHandle* check_handle(lua_State* L, int index) {
  return static_cast<ConnHandle*>(luaL_checkudata(L, index, kConnType));
}

void register_password(lua_State* L, const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (err) PQfreemem(err);
  if (!opts) return;
  for (auto* o = opts; o->keyword; ++o)
    if (std::string(o->keyword) == "password" && o->val && services(L).redactor) services(L).redactor->add(o->val);
  PQconninfoFree(opts);
}

std::vector<db::Param> collect_params(lua_State* L, int first) {
  std::vector<db::Param> params;
  const int top = lua_gettop(L);
  for (int i = first; i <= top; ++i) {
    switch (lua_type(L, i)) {
      case LUA_TNIL: params.emplace_back(std::nullopt); break;
      case LUA_TBOOLEAN: params.emplace_back(lua_toboolean(L, i) ? "true" : "false"); break;
      case LUA_TNUMBER: {
        const double d = lua_tonumber(L, i);
        char buf[64];
        if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) std::snprintf(buf, sizeof buf, "%.0f", d);
        else std::snprintf(buf, sizeof buf, "%.17g", d);
        params.emplace_back(buf);
        break;
      }
      case LUA_TSTRING: params.emplace_back(check_string(L, i)); break;
      case LUA_TTABLE: params.emplace_back(to_json(L, i).dump()); break;
      default: luaL_argerror(L, i, "parameters must be nil, boolean, number, string or table (sent as JSON)");
    }
  }
  return params;
}

void push_cell(lua_State* L, const db::Cell& c) {
  switch (c.type) {
    case db::CellType::null: lua_pushnil(L); break;
    case db::CellType::boolean: lua_pushboolean(L, c.boolean); break;
    case db::CellType::integer: lua_pushnumber(L, static_cast<double>(c.integer)); break;
    case db::CellType::number: lua_pushnumber(L, c.number); break;
    case db::CellType::text: lua_pushlstring(L, c.text.data(), c.text.size()); break;
    case db::CellType::json: push_json(L, nlohmann::json::parse(c.text, nullptr, false)); break;
  }
}

void push_rows(lua_State* L, const db::Result& r) {
  lua_createtable(L, static_cast<int>(r.rows.size()), 0);  // [rows]
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    lua_createtable(L, 0, static_cast<int>(r.columns.size()));  // [rows, row]
    for (std::size_t c = 0; c < r.columns.size(); ++c) {
      push_cell(L, r.rows[i][c]);
      lua_setfield(L, -2, r.columns[c].c_str());
    }
    lua_rawseti(L, -2, static_cast<int>(i + 1));  // [rows]
  }
}

// db.connect{ url=, application_name=, lock_timeout=, statement_timeout=, read_only= }
int db_connect(lua_State* L) {
  require_effects(services(L).mode, "db.connect");  // inert (--describe/--list): no session at all
  db::ConnectOptions o;
  if (lua_isstring(L, 1)) {
    o.conninfo = check_string(L, 1);
  } else if (lua_istable(L, 1)) {
    o.conninfo = opt_string_field(L, 1, "url", "");
    o.dbname = opt_string_field(L, 1, "dbname", "");
    o.application_name = opt_string_field(L, 1, "application_name", o.application_name);
    o.lock_timeout = opt_string_field(L, 1, "lock_timeout", "");
    o.statement_timeout = opt_string_field(L, 1, "statement_timeout", "");
    o.read_only = opt_bool_field(L, 1, "read_only", false);
  }
  // Dry-run and rehearsal sessions are read-only whatever the runbook asked: the server
  // refuses writes (a rehearsal's own BEGIN READ WRITE ... ROLLBACK is the one exception).
  if (!changes_allowed(services(L).mode)) o.read_only = true;
  register_password(L, o.conninfo);
  auto* h = static_cast<ConnHandle*>(lua_newuserdata(L, sizeof(ConnHandle)));  // [ud]
  h->conn = nullptr;
  luaL_getmetatable(L, kConnType);
  lua_setmetatable(L, -2);
  h->conn = new db::Connection(o);
  return 1;
}

int conn_query(lua_State* L) {
  auto& c = check_connection(L, 1);
  const std::string sql = check_string(L, 2);
  const auto params = collect_params(L, 3);
  push_rows(L, c.query(sql, params));
  return 1;
}

// The first row (or nil).
int conn_query_row(lua_State* L) {
  auto& c = check_connection(L, 1);
  const std::string sql = check_string(L, 2);
  const auto params = collect_params(L, 3);
  const auto r = c.query(sql, params);
  if (r.rows.empty()) return 0;
  lua_createtable(L, 0, static_cast<int>(r.columns.size()));
  for (std::size_t i = 0; i < r.columns.size(); ++i) {
    push_cell(L, r.rows[0][i]);
    lua_setfield(L, -2, r.columns[i].c_str());
  }
  return 1;
}

// The first column of the first row (or nil).
int conn_value(lua_State* L) {
  auto& c = check_connection(L, 1);
  const std::string sql = check_string(L, 2);
  const auto params = collect_params(L, 3);
  const auto r = c.query(sql, params);
  if (r.rows.empty() || r.columns.empty()) return 0;
  push_cell(L, r.rows[0][0]);
  return 1;
}

int conn_exec(lua_State* L) {
  auto& c = check_connection(L, 1);
  const std::string sql = check_string(L, 2);
  const auto params = collect_params(L, 3);
  lua_pushnumber(L, static_cast<double>(c.query(sql, params).affected));
  return 1;
}

// Several statements, no parameters (simple query protocol).
int conn_script(lua_State* L) {
  auto& c = check_connection(L, 1);
  c.run_script(check_string(L, 2));
  return 0;
}

// conn:transaction(function(conn) ... end): commits on return, rolls back on error.
int conn_transaction(lua_State* L) {
  auto& c = check_connection(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  c.run_script("BEGIN");
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 1, LUA_MULTRET, 0) != 0) {
    try {
      c.run_script("ROLLBACK");
    } catch (const std::exception&) {
      // The session is gone; the server rolled back.
    }
    return lua_error(L);
  }
  c.run_script("COMMIT");
  return lua_gettop(L) - 2;
}

int conn_try_lock(lua_State* L) {
  auto& c = check_connection(L, 1);
  lua_pushboolean(L, c.try_advisory_lock(static_cast<std::int64_t>(luaL_checknumber(L, 2))));
  return 1;
}

int conn_unlock(lua_State* L) {
  auto& c = check_connection(L, 1);
  c.advisory_unlock(static_cast<std::int64_t>(luaL_checknumber(L, 2)));
  return 0;
}

int conn_set(lua_State* L) {
  auto& c = check_connection(L, 1);
  c.set(check_string(L, 2), check_string(L, 3));
  return 0;
}

int conn_server_version(lua_State* L) {
  lua_pushnumber(L, check_connection(L, 1).server_version());
  return 1;
}

int conn_database(lua_State* L) {
  lua_pushstring(L, check_connection(L, 1).database().c_str());
  return 1;
}

int conn_read_only(lua_State* L) {
  lua_pushboolean(L, check_connection(L, 1).read_only());
  return 1;
}

int conn_is_open(lua_State* L) {
  auto* h = check_handle(L, 1);
  lua_pushboolean(L, h->conn && h->conn->is_open());
  return 1;
}

// Idempotent; also the __gc, so it never raises.
int conn_close(lua_State* L) {
  auto* h = check_handle(L, 1);
  delete h->conn;
  h->conn = nullptr;
  return 0;
}

int conn_tostring(lua_State* L) {
  auto* h = check_handle(L, 1);
  const std::string s = h->conn ? "db connection " + h->conn->describe() : "db connection (closed)";
  lua_pushstring(L, s.c_str());
  return 1;
}

const luaL_Reg kConnMethods[] = {
    {"query", guarded<conn_query>},
    {"query_row", guarded<conn_query_row>},
    {"value", guarded<conn_value>},
    {"exec", guarded<conn_exec>},
    {"script", guarded<conn_script>},
    {"transaction", guarded<conn_transaction>},
    {"try_advisory_lock", guarded<conn_try_lock>},
    {"advisory_unlock", guarded<conn_unlock>},
    {"set", guarded<conn_set>},
    {"server_version", guarded<conn_server_version>},
    {"database", guarded<conn_database>},
    {"read_only", guarded<conn_read_only>},
    {"is_open", guarded<conn_is_open>},
    {"close", conn_close},
    {nullptr, nullptr},
};

// db.split_password(url) -> url without its password, password (or nil). Lets a runbook
// hand a password to pg_dump through PGPASSWORD instead of its command line.
int db_split_password(lua_State* L) {
  const std::string url = luaL_optstring(L, 1, "");
  std::string password;
  const std::string rest = db::without_password(url, password);
  lua_pushstring(L, rest.c_str());
  if (password.empty()) lua_pushnil(L);
  else lua_pushstring(L, password.c_str());
  return 2;
}

// db.with_database(url, name): the same server, another database (a key=value string).
int db_with_database(lua_State* L) {
  const std::string url = luaL_optstring(L, 1, "");
  const std::string name = check_string(L, 2);
  lua_pushstring(L, db::with_database(url, name).c_str());
  return 1;
}

const luaL_Reg kDbFunctions[] = {
    {"connect", guarded<db_connect>},
    {"with_database", guarded<db_with_database>},
    {"split_password", guarded<db_split_password>},
    {nullptr, nullptr},
};

}  // namespace

db::Connection& check_connection(lua_State* L, int index) {
  auto* h = check_handle(L, index);
  if (!h->conn) luaL_error(L, "the database connection is closed");
  return *h->conn;
}

int open_db(lua_State* L) {
  if (luaL_newmetatable(L, kConnType)) {  // [mt]
    lua_newtable(L);                      // [mt, methods]
    set_functions(L, kConnMethods);
    lua_setfield(L, -2, "__index");       // [mt]
    lua_pushcfunction(L, conn_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, guarded<conn_tostring>);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);   // []
  lua_newtable(L); // [db]
  set_functions(L, kDbFunctions);
  return 1;
}

}  // namespace rb::lua
