// require "db": PostgreSQL sessions for runbooks. Parameters travel separately ($1, $2, ...);
// rows come back as tables keyed by column name, SQL NULL as nil.
#include "bindings/lua_db.hpp"

#include <cmath>
#include <cstdio>

#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"
#include "engine/backup_restore.hpp"
#include "engine/ephemeral.hpp"
#include "engine/shadow.hpp"

extern "C" {
#include <libpq-fe.h>
}

namespace rb::lua {
namespace {

constexpr const char* kConnType = "rb.db.conn";
constexpr const char* kClusterType = "rb.db.ephemeral";

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

int push_connection(lua_State* L, const db::ConnectOptions& o) {
  auto* h = static_cast<ConnHandle*>(lua_newuserdata(L, sizeof(ConnHandle)));  // [ud]
  h->conn = nullptr;
  luaL_getmetatable(L, kConnType);
  lua_setmetatable(L, -2);
  h->conn = new db::Connection(o);
  return 1;
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
  return push_connection(L, o);
}

// An ephemeral cluster (engine/ephemeral.hpp), stopped and deleted by cluster:stop(), by the
// garbage collector, and when the host closes the Lua state at the end of the run.
struct ClusterHandle {
  ephemeral::Cluster* cluster;  // owned; nullptr once stopped
};

ephemeral::Cluster& check_cluster(lua_State* L, int index) {
  auto* h = static_cast<ClusterHandle*>(luaL_checkudata(L, index, kClusterType));
  if (!h->cluster) luaL_error(L, "the ephemeral cluster was stopped");
  return *h->cluster;
}

// db.ephemeral{ version = 15, bin_dir = } -> cluster: initdb + pg_ctl, a private unix socket.
int db_ephemeral(lua_State* L) {
  require_effects(services(L).mode, "db.ephemeral");
  ephemeral::StartOptions o;
  if (lua_istable(L, 1)) {
    o.major = static_cast<int>(opt_number_field(L, 1, "version", 0));
    o.bin_dir = opt_string_field(L, 1, "bin_dir", "");
  }
  auto* h = static_cast<ClusterHandle*>(lua_newuserdata(L, sizeof(ClusterHandle)));  // [ud]
  h->cluster = nullptr;
  luaL_getmetatable(L, kClusterType);
  lua_setmetatable(L, -2);
  h->cluster = new ephemeral::Cluster(o);
  return 1;
}

// cluster:connect([dbname]) -> connection that changes the cluster for real in every mode.
int cluster_connect(lua_State* L) {
  auto& c = check_cluster(L, 1);
  db::ConnectOptions o;
  o.conninfo = c.conninfo(luaL_optstring(L, 2, "postgres"));
  o.application_name = "runbook (ephemeral)";
  o.private_cluster = true;
  return push_connection(L, o);
}

// cluster:load_schema_of(conn, {data = {"schema.table", ...}}) -> {database=, data_tables=, ms=}
int cluster_load_schema_of(lua_State* L) {
  auto& c = check_cluster(L, 1);
  auto& target = check_connection(L, 2);
  std::vector<std::string> tables;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "data");
    if (lua_istable(L, -1))
      for (int i = 1;; ++i) {
        lua_rawgeti(L, -1, i);
        if (lua_isnil(L, -1)) { lua_pop(L, 1); break; }
        tables.push_back(check_string(L, -1));
        lua_pop(L, 1);
      }
    lua_pop(L, 1);
  }
  const auto copy = shadow::copy_schema(target, c, tables);
  lua_createtable(L, 0, 3);
  push_string_field(L, "database", copy.database);
  lua_createtable(L, static_cast<int>(copy.data_tables.size()), 0);
  for (std::size_t i = 0; i < copy.data_tables.size(); ++i) {
    lua_pushstring(L, copy.data_tables[i].c_str());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "data_tables");
  lua_pushnumber(L, copy.ms);
  lua_setfield(L, -2, "ms");
  return 1;
}

// A list of {table=, rows=} from the Lua table at `index` (a census's `tables`).
std::vector<backup::TableRows> table_rows_from(lua_State* L, int index) {
  std::vector<backup::TableRows> out;
  if (!lua_istable(L, index)) return out;
  for (int i = 1;; ++i) {
    lua_rawgeti(L, index, i);  // [.., row]
    if (lua_isnil(L, -1)) { lua_pop(L, 1); break; }
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_getfield(L, -1, "table");  // [.., row, name]
    lua_getfield(L, -2, "rows");   // [.., row, name, rows]
    out.push_back({check_string(L, -2), static_cast<long long>(luaL_checknumber(L, -1))});
    lua_pop(L, 3);
  }
  return out;
}

void push_table_check(lua_State* L, const backup::TableCheck& t) {
  lua_createtable(L, 0, 3);
  push_string_field(L, "table", t.table);
  if (t.source >= 0) {
    lua_pushnumber(L, static_cast<lua_Number>(t.source));
    lua_setfield(L, -2, "source");
  }
  if (t.restored >= 0) {
    lua_pushnumber(L, static_cast<lua_Number>(t.restored));
    lua_setfield(L, -2, "restored");
  }
}

// cluster:restore(archive, census) -> {database=, tables={{table=, source=, restored=}},
// mismatches={...}, rows=, restore_ms=, count_ms=}: the archive restored into a new database
// of the cluster, its row counts compared with `census` (conn:census() of the source).
int cluster_restore(lua_State* L) {
  auto& c = check_cluster(L, 1);
  const std::string archive = check_string(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  backup::Census census;
  census.database = opt_string_field(L, 3, "database", "");
  lua_getfield(L, 3, "tables");  // [.., tables]
  census.tables = table_rows_from(L, lua_gettop(L));
  lua_pop(L, 1);
  lua_getfield(L, 3, "roles");  // [.., roles]
  if (lua_istable(L, -1))
    for (int i = 1;; ++i) {
      lua_rawgeti(L, -1, i);
      if (lua_isnil(L, -1)) { lua_pop(L, 1); break; }
      census.roles.push_back(check_string(L, -1));
      lua_pop(L, 1);
    }
  lua_pop(L, 1);
  const auto check = backup::restore_and_compare(archive, c, census);
  lua_createtable(L, 0, 6);  // [result]
  push_string_field(L, "database", check.database);
  lua_createtable(L, static_cast<int>(check.tables.size()), 0);
  for (std::size_t i = 0; i < check.tables.size(); ++i) {
    push_table_check(L, check.tables[i]);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "tables");
  lua_createtable(L, static_cast<int>(check.mismatches.size()), 0);
  for (std::size_t i = 0; i < check.mismatches.size(); ++i) {
    push_table_check(L, check.mismatches[i]);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "mismatches");
  lua_pushnumber(L, static_cast<lua_Number>(check.rows));
  lua_setfield(L, -2, "rows");
  lua_pushnumber(L, check.restore_ms);
  lua_setfield(L, -2, "restore_ms");
  lua_pushnumber(L, check.count_ms);
  lua_setfield(L, -2, "count_ms");
  return 1;
}

// cluster:info() -> {version=, major=, bin_dir=, dir=}
int cluster_info(lua_State* L) {
  auto& c = check_cluster(L, 1);
  lua_createtable(L, 0, 4);
  push_string_field(L, "version", c.server().version);
  lua_pushnumber(L, c.server().major);
  lua_setfield(L, -2, "major");
  push_string_field(L, "bin_dir", c.server().bin_dir);
  push_string_field(L, "dir", c.dir());
  return 1;
}

// Idempotent; also the __gc, so it never raises.
int cluster_stop(lua_State* L) {
  auto* h = static_cast<ClusterHandle*>(luaL_checkudata(L, 1, kClusterType));
  delete h->cluster;
  h->cluster = nullptr;
  return 0;
}

int cluster_tostring(lua_State* L) {
  auto* h = static_cast<ClusterHandle*>(luaL_checkudata(L, 1, kClusterType));
  const std::string s = h->cluster ? "ephemeral PostgreSQL " + h->cluster->server().version + " in " + h->cluster->dir()
                                   : "ephemeral PostgreSQL (stopped)";
  lua_pushstring(L, s.c_str());
  return 1;
}

const luaL_Reg kClusterMethods[] = {
    {"connect", guarded<cluster_connect>},
    {"load_schema_of", guarded<cluster_load_schema_of>},
    {"restore", guarded<cluster_restore>},
    {"info", guarded<cluster_info>},
    {"stop", cluster_stop},
    {nullptr, nullptr},
};

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

// conn:census() -> {database=, tables={{table=, rows=}}, roles={...}}: exact row counts of
// every user table, in the session's current transaction (engine/backup_restore.hpp).
int conn_census(lua_State* L) {
  auto& c = check_connection(L, 1);
  const auto census = backup::take_census(c);
  lua_createtable(L, 0, 3);  // [census]
  push_string_field(L, "database", census.database);
  lua_createtable(L, static_cast<int>(census.tables.size()), 0);  // [census, tables]
  for (std::size_t i = 0; i < census.tables.size(); ++i) {
    lua_createtable(L, 0, 2);
    push_string_field(L, "table", census.tables[i].table);
    lua_pushnumber(L, static_cast<lua_Number>(census.tables[i].rows));
    lua_setfield(L, -2, "rows");
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "tables");  // [census]
  lua_createtable(L, static_cast<int>(census.roles.size()), 0);
  for (std::size_t i = 0; i < census.roles.size(); ++i) {
    lua_pushstring(L, census.roles[i].c_str());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "roles");
  return 1;
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
    {"census", guarded<conn_census>},
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
    {"ephemeral", guarded<db_ephemeral>},
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
  if (luaL_newmetatable(L, kClusterType)) {
    lua_newtable(L);
    set_functions(L, kClusterMethods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, cluster_stop);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, guarded<cluster_tostring>);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lua_newtable(L); // [db]
  set_functions(L, kDbFunctions);
  return 1;
}

}  // namespace rb::lua
