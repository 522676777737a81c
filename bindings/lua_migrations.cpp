// require "migrations": chains, status/parity, apply, rollback, resolve, baseline.
// Progress goes to the operator and every migration to the run record.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include "bindings/lua_db.hpp"
#include "bindings/lua_plan.hpp"
#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"
#include "engine/adopt.hpp"
#include "engine/apply.hpp"
#include "engine/progress.hpp"
#include "engine/layout.hpp"
#include "engine/tool_ledger.hpp"
#include "engine/repair.hpp"

namespace rb::lua {
namespace {

constexpr const char* kChainType = "rb.migrations.chain";

struct ChainHandle {
  migrations::Chain* chain;
};


migrations::LedgerName ledger_name(lua_State* L, int opts) {
  if (!lua_istable(L, opts)) return {};
  return migrations::LedgerName::parse(opt_string_field(L, opts, "ledger", ""));
}


void push_migration(lua_State* L, const migrations::Migration& m) {
  lua_createtable(L, 0, 6);
  push_string_field(L, "name", m.name);
  push_string_field(L, "version", m.version);
  push_string_field(L, "up_path", m.up_path);
  push_string_field(L, "down_path", m.down_path);
  push_string_field(L, "sha256", m.sha256);
  lua_pushboolean(L, m.down_sql.find_first_not_of(" \t\r\n") != std::string::npos);
  lua_setfield(L, -2, "has_down");
}

void push_names(lua_State* L, const std::vector<const migrations::Migration*>& list, const char* key) {
  lua_createtable(L, static_cast<int>(list.size()), 0);
  for (std::size_t i = 0; i < list.size(); ++i) {
    lua_pushstring(L, list[i]->name.c_str());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, key);
}

}  // namespace

void push_status(lua_State* L, const migrations::Status& st) {
  lua_newtable(L);  // [status]
  push_names(L, st.applied, "applied");
  push_names(L, st.pending, "pending");
  push_names(L, st.missing_in_db, "missing_in_db");
  auto rows = [&](const std::vector<migrations::LedgerRow>& list, const char* key) {
    lua_createtable(L, static_cast<int>(list.size()), 0);
    for (std::size_t i = 0; i < list.size(); ++i) {
      lua_newtable(L);
      push_string_field(L, "filename", list[i].filename);
      push_string_field(L, "sha256", list[i].sha256);
      push_string_field(L, "status", list[i].status);
      push_string_field(L, "applied_at", list[i].applied_at);
      push_string_field(L, "run_id", list[i].run_id);
      push_string_field(L, "error", list[i].error);
      lua_pushnumber(L, list[i].statements_done);
      lua_setfield(L, -2, "statements_done");
      lua_pushnumber(L, list[i].failed_statement);
      lua_setfield(L, -2, "failed_statement");
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
    lua_setfield(L, -2, key);
  };
  rows(st.extra_in_db, "extra_in_db");
  rows(st.dirty, "dirty");
  auto mismatches = [&](const std::vector<migrations::HashMismatch>& list, const char* key) {
    lua_createtable(L, static_cast<int>(list.size()), 0);
    for (std::size_t i = 0; i < list.size(); ++i) {
      lua_newtable(L);
      push_string_field(L, "filename", list[i].filename);
      push_string_field(L, "ledger_sha256", list[i].ledger_sha256);
      push_string_field(L, "file_sha256", list[i].file_sha256);
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
    lua_setfield(L, -2, key);
  };
  mismatches(st.hash_mismatches, "hash_mismatches");
  mismatches(st.line_ending_only, "line_ending_only");
  lua_pushstring(L, st.parity_pass() ? "PASS" : "FAIL");
  lua_setfield(L, -2, "parity");
  lua_pushboolean(L, st.up_to_date());
  lua_setfield(L, -2, "up_to_date");
  const auto drift = st.drift_messages();
  lua_createtable(L, static_cast<int>(drift.size()), 0);
  for (std::size_t i = 0; i < drift.size(); ++i) {
    lua_pushstring(L, drift[i].c_str());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "drift");
}

namespace {

std::string ms_text(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, ms < 10 ? "%.1f ms" : "%.0f ms", ms);
  return buf;
}

// " — ACCESS EXCLUSIVE on public.users (rewritten), ..." for the locks of existing tables.
std::string effects_text(const migrations::Effects& e) {
  std::string text;
  for (const auto& l : e.locks) {
    if (l.created) continue;  // a table the migration made itself: nobody else waits on it
    const bool rewritten = std::find(e.rewritten.begin(), e.rewritten.end(), l.relation) != e.rewritten.end();
    text += (text.empty() ? " — " : ", ") + l.mode + " on " + l.relation + (rewritten ? " (rewritten)" : "") +
            (l.sampled ? " (sampled)" : "");
  }
  return text;
}

// The terminal's progress line for one apply or rollback (Services::progress), removed when
// it ends however it ends.
struct LiveProgress {
  Services& s;
  std::shared_ptr<Progress> progress;
  LiveProgress(Services& services, const migrations::Plan& plan, std::map<std::string, double> estimates) : s(services) {
    if (!s.progress || plan.migrations.empty()) return;
    std::vector<std::string> names;
    for (const auto& m : plan.migrations) names.push_back(m.name);
    progress = std::make_shared<Progress>(std::move(names), std::move(estimates));
  }
  ~LiveProgress() {
    if (progress) s.progress("");
  }
};

// opts.estimates = { [name] = milliseconds } (rehearsal estimates, for the ETA).
std::map<std::string, double> estimates_of(lua_State* L, int opts) {
  std::map<std::string, double> out;
  if (!lua_istable(L, opts)) return out;
  lua_getfield(L, opts, "estimates");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TNUMBER) out[lua_tostring(L, -2)] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return out;
}

// Progress lines and run-record events shared by apply and rollback.
migrations::ApplyObserver observer_for(Services& s, std::shared_ptr<Progress> progress = nullptr) {
  migrations::ApplyObserver obs;
  auto counter = std::make_shared<std::pair<std::size_t, std::size_t>>(0, 0);
  obs.waiting_for_lock = [&s](const std::string& m) { if (s.say) s.say(m); };
  obs.retrying = [&s](const std::string& m) {
    if (s.warn) s.warn(m);
    if (s.record) s.record("retry", {{"message", m}});
  };
  obs.notice = [&s](const std::string& m) {
    if (s.say) s.say(m);
    if (s.record) s.record("notice", {{"message", m}});
  };
  obs.starting = [&s, counter, progress](const migrations::PlannedMigration&, std::size_t i, std::size_t n) {
    *counter = {i + 1, n};
    if (progress) {
      progress->started(i);
      s.progress(progress->line());
    }
  };
  // From the heartbeat's thread: only a line (the run record is the main thread's); the
  // progress line below it shows the time so far.
  obs.heartbeat = [&s, progress](const std::string& line) {
    if (s.say) s.say(line);
    if (progress) s.progress(progress->line());
  };
  obs.would_run = [&s](const migrations::PlannedMigration& m, const std::string& sql) {
    if (s.say) s.say(sql);
    if (s.record) s.record("sql", {{"name", m.name}, {"sql", sql}});
  };
  obs.finished = [&s, counter, progress](const migrations::MigrationOutcome& o) {
    if (progress) progress->finished(counter->first - 1, o.ms);
    if (s.say)
      s.say("  [" + std::to_string(counter->first) + "/" + std::to_string(counter->second) + "] " + o.name + " " +
            o.status + (o.ms > 0 ? " in " + ms_text(o.ms) : "") +
            (o.retries ? " after " + std::to_string(o.retries) + " lock retries" : "") +
            (o.transactional || (o.status != "applied" && o.status != "rehearsed") ? "" : " (outside a transaction)") +
            effects_text(o.effects));
    if (progress) s.progress(progress->line());
    if (s.record) {
      nlohmann::json event{{"name", o.name}, {"version", o.version}, {"sha256", o.sha256}, {"status", o.status},
                           {"ms", o.ms}, {"transactional", o.transactional}, {"retries", o.retries}};
      if (!o.effects.locks.empty() || !o.effects.rewritten.empty()) {
        nlohmann::json locks = nlohmann::json::array();
        for (const auto& l : o.effects.locks)
          locks.push_back({{"relation", l.relation}, {"mode", l.mode}, {"created", l.created}, {"sampled", l.sampled}});
        event["locks"] = locks;
        event["rewritten"] = o.effects.rewritten;
      }
      s.record("migration", event);
    }
  };
  // The failed migration is in the record's migrations (a dirty one is already, as finished),
  // then the failure itself: where in which file, and what the server said.
  obs.failed = [&s](const migrations::MigrationFailure& f) {
    if (!s.record) return;
    if (f.status != "dirty")
      s.record("migration", {{"name", f.name}, {"version", f.version}, {"sha256", f.sha256}, {"status", f.status}});
    nlohmann::json e{{"migration", f.name}, {"file", f.path}, {"status", f.status}, {"message", f.message}};
    if (!f.sqlstate.empty()) e["sqlstate"] = f.sqlstate;
    if (f.statement > 0) {
      e["statement"] = f.statement;
      e["statements"] = f.statements;
      e["line"] = f.line;
      e["sql"] = f.sql;
    }
    s.record("failure", e);
  };
  obs.interrupted = [&s] { return s.interrupted && s.interrupted(); };
  return obs;
}

void push_outcomes(lua_State* L, const migrations::ApplyResult& r) {
  lua_createtable(L, static_cast<int>(r.migrations.size()), 0);
  for (std::size_t i = 0; i < r.migrations.size(); ++i) {
    const auto& o = r.migrations[i];
    lua_newtable(L);
    push_string_field(L, "name", o.name);
    push_string_field(L, "version", o.version);
    push_string_field(L, "sha256", o.sha256);
    push_string_field(L, "status", o.status);
    lua_pushnumber(L, o.ms);
    lua_setfield(L, -2, "ms");
    lua_pushboolean(L, o.transactional);
    lua_setfield(L, -2, "transactional");
    if (!o.effects.locks.empty() || !o.effects.rewritten.empty()) {
      lua_createtable(L, static_cast<int>(o.effects.locks.size()), 0);
      for (std::size_t k = 0; k < o.effects.locks.size(); ++k) {
        const auto& lock = o.effects.locks[k];
        lua_createtable(L, 0, 4);
        push_string_field(L, "relation", lock.relation);
        push_string_field(L, "mode", lock.mode);
        lua_pushboolean(L, lock.created);
        lua_setfield(L, -2, "created");
        lua_pushboolean(L, lock.sampled);
        lua_setfield(L, -2, "sampled");
        lua_rawseti(L, -2, static_cast<int>(k + 1));
      }
      lua_setfield(L, -2, "locks");
      lua_createtable(L, static_cast<int>(o.effects.rewritten.size()), 0);
      for (std::size_t k = 0; k < o.effects.rewritten.size(); ++k) {
        lua_pushlstring(L, o.effects.rewritten[k].data(), o.effects.rewritten[k].size());
        lua_rawseti(L, -2, static_cast<int>(k + 1));
      }
      lua_setfield(L, -2, "rewritten");
    }
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
}

// migrations.load(dir [, {layout=, ledger=}]) -> chain; a tool's ledger implies its layout
int mig_load(lua_State* L) {
  const std::string dir = check_string(L, 1);
  std::string layout;
  if (lua_istable(L, 2)) {
    layout = opt_string_field(L, 2, "layout", "");
    if (layout.empty()) layout = migrations::layout_of_ledger(migrations::LedgerName::parse(opt_string_field(L, 2, "ledger", "")));
  }
  auto* h = static_cast<ChainHandle*>(lua_newuserdata(L, sizeof(ChainHandle)));
  h->chain = nullptr;
  luaL_getmetatable(L, kChainType);
  lua_setmetatable(L, -2);
  h->chain = new migrations::Chain(migrations::load_chain(dir, layout));
  return 1;
}

int chain_list(lua_State* L) {
  const auto& c = check_chain(L, 1);
  lua_createtable(L, static_cast<int>(c.migrations.size()), 0);
  for (std::size_t i = 0; i < c.migrations.size(); ++i) {
    push_migration(L, c.migrations[i]);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

// chain:get(name_or_version) -> {name=, ..., up_sql=, down_sql=} or nil
int chain_get(lua_State* L) {
  const auto& c = check_chain(L, 1);
  const auto* m = c.find(check_string(L, 2));
  if (!m) return 0;
  push_migration(L, *m);
  push_string_field(L, "up_sql", m->up_sql);
  push_string_field(L, "down_sql", m->down_sql);
  return 1;
}

int chain_directory(lua_State* L) {
  lua_pushstring(L, check_chain(L, 1).directory.c_str());
  return 1;
}

int chain_layout(lua_State* L) {
  lua_pushstring(L, check_chain(L, 1).layout.c_str());
  return 1;
}

int chain_ordering(lua_State* L) {
  lua_pushstring(L, check_chain(L, 1).ordering.c_str());
  return 1;
}

// chain:new_migration{title=, up=, down=} -> {name=, files={{path=, content=}, ...}}: what the
// chain's layout writes for a new migration after its newest (nothing is written here).
int chain_new_migration(lua_State* L) {
  const auto& chain = check_chain(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  const auto made = migrations::new_migration(chain, opt_string_field(L, 2, "title", ""),
                                              opt_string_field(L, 2, "up", ""), opt_string_field(L, 2, "down", ""),
                                              static_cast<long long>(std::time(nullptr)));
  nlohmann::json files = nlohmann::json::array();
  for (const auto& [path, content] : made.files) files.push_back(nlohmann::json{{"path", path}, {"content", content}});
  push_json(L, nlohmann::json{{"name", made.name}, {"files", files}});
  return 1;
}

// migrations.ledger_table(spec) -> runbook's own ledger table ("public.runbook_ledger" for
// "sqlx"), and the tool's table or nil
int mig_ledger_table(lua_State* L) {
  const auto n = migrations::LedgerName::parse(lua_isstring(L, 1) ? lua_tostring(L, 1) : "");
  lua_pushstring(L, n.qualified().c_str());
  if (n.tool.empty()) lua_pushnil(L);
  else lua_pushstring(L, (n.tool + " " + n.tool_table).c_str());
  return 2;
}

// migrations.tool_ledgers() -> {{name=, table=, layout=}, ...}: the tools whose ledgers runbook keeps
int mig_tool_ledgers(lua_State* L) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto* t : migrations::tool_ledgers())
    out.push_back(nlohmann::json{{"name", t->name}, {"table", t->table}, {"layout", t->layout}});
  push_json(L, out);
  return 1;
}

// migrations.foreign_ledgers(conn) -> {{tool=, table=, rows=}, ...}: known tools' tables in the database
int mig_foreign_ledgers(lua_State* L) {
  auto& conn = check_connection(L, 1);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : migrations::find_foreign_ledgers(conn))
    out.push_back(nlohmann::json{{"tool", f.tool->name}, {"table", f.table}, {"rows", f.rows}});
  push_json(L, out);
  return 1;
}

// migrations.layouts() -> {{name=, ordering=, pattern=}, ...} in detection order
int mig_layouts(lua_State* L) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto* l : migrations::layouts())
    out.push_back(nlohmann::json{{"name", l->name}, {"ordering", l->ordering}, {"pattern", l->pattern}});
  push_json(L, out);
  return 1;
}

int chain_gc(lua_State* L) {
  auto* h = static_cast<ChainHandle*>(luaL_checkudata(L, 1, kChainType));
  delete h->chain;
  h->chain = nullptr;
  return 0;
}

// migrations.status(conn, chain [, {ledger=}]) -> status table (one ledger query)
int mig_status(lua_State* L) {
  auto& conn = check_connection(L, 1);
  const auto& chain = check_chain(L, 2);
  migrations::Ledger ledger(conn, ledger_name(L, 3), &chain);
  push_status(L, migrations::compute_status(chain, ledger.read()));
  return 1;
}

// migrations.apply(conn, chain, plan, {lock_timeout=, statement_timeout=, lock_wait=,
//                   lock_retries=, retry_backoff=, record_effects=}) -> outcomes, status_before
// (record_effects: each outcome gets locks = {{relation=, mode=, created=, sampled=}} and
// rewritten = {tables}; on a connection to an ephemeral cluster the apply is real in every mode)
// Applies exactly the plan, or refuses (see engine/apply.hpp).
int mig_apply(lua_State* L) {
  auto& conn = check_connection(L, 1);
  const auto& chain = check_chain(L, 2);
  const auto& plan = check_plan(L, 3);
  const auto consent = plan_consent(L, 3);
  migrations::ApplyOptions o;
  auto& s = services(L);
  if (lua_istable(L, 4)) {
    o.lock_timeout = opt_string_field(L, 4, "lock_timeout", "");
    o.statement_timeout = opt_string_field(L, 4, "statement_timeout", "");
    o.lock_wait_s = opt_number_field(L, 4, "lock_wait", 60);
    o.lock_retries = static_cast<int>(opt_number_field(L, 4, "lock_retries", 3));
    o.retry_backoff_s = opt_number_field(L, 4, "retry_backoff", 1);
    o.record_effects = opt_bool_field(L, 4, "record_effects", false);
  }
  o.mode = mode_on(s.mode, conn.options().private_cluster);
  o.run_id = s.run_id;
  o.applied_by = s.operator_name;
  migrations::Ledger ledger(conn, migrations::LedgerName::parse(plan.ledger), &chain);
  LiveProgress live(s, plan, estimates_of(L, 4));
  const auto result = migrations::apply(conn, ledger, chain, plan, consent, o, observer_for(s, live.progress));
  push_outcomes(L, result);
  push_status(L, result.before);
  return 2;
}

// migrations.rollback(conn, chain, plan, {lock_timeout=, statement_timeout=, lock_wait=}) -> outcomes
int mig_rollback(lua_State* L) {
  auto& conn = check_connection(L, 1);
  const auto& chain = check_chain(L, 2);
  const auto& plan = check_plan(L, 3);
  const auto consent = plan_consent(L, 3);
  migrations::RollbackOptions o;
  if (lua_istable(L, 4)) {
    o.lock_timeout = opt_string_field(L, 4, "lock_timeout", "");
    o.statement_timeout = opt_string_field(L, 4, "statement_timeout", "");
    o.lock_wait_s = opt_number_field(L, 4, "lock_wait", 60);
  }
  auto& s = services(L);
  o.mode = mode_on(s.mode, conn.options().private_cluster);
  migrations::Ledger ledger(conn, migrations::LedgerName::parse(plan.ledger), &chain);
  LiveProgress live(s, plan, estimates_of(L, 4));
  const auto result = migrations::rollback(conn, ledger, chain, plan, consent, o, observer_for(s, live.progress));
  push_outcomes(L, result);
  return 1;
}

// migrations.verify_backup(path) -> {path, sha256, size, toc_entries}: a pg_dump custom-format
// archive readable by pg_restore --list (for backups not tied to a plan, e.g. snapshots).
int mig_verify_backup(lua_State* L) {
  push_backup_proof(L, migrations::verify_backup(check_string(L, 1)));
  return 1;
}

// migrations.resolve(conn, chain, name, "applied" | "rolled-back" [, {ledger=}])
int mig_resolve(lua_State* L) {
  auto& conn = check_connection(L, 1);
  const auto& chain = check_chain(L, 2);
  const std::string name = check_string(L, 3);
  const std::string as = check_string(L, 4);
  auto& s = services(L);
  migrations::Ledger ledger(conn, ledger_name(L, 5), &chain);
  const std::string what = migrations::resolve(conn, ledger, chain, name, as, s.mode, s.run_id, s.operator_name);
  if (s.say) s.say(what);
  if (s.record) s.record("resolve", {{"name", name}, {"as", as}, {"result", what}});
  lua_pushstring(L, what.c_str());
  return 1;
}

// migrations.adopt(conn, chain, {tool=, ledger=, dry=}) -> report (dry: read only, in any mode) {tool=, tool_table=, ledger=, matched=,
// already=, differs=, failed=, unknown=, pending=, recorded=, blockers=}
int mig_adopt(lua_State* L) {
  auto& conn = check_connection(L, 1);
  const auto& chain = check_chain(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  auto& s = services(L);
  const auto r = migrations::adopt(conn, chain, opt_string_field(L, 3, "tool", ""),
                                   migrations::LedgerName::parse(opt_string_field(L, 3, "ledger", "")),
                                   opt_bool_field(L, 3, "dry", false) ? RunMode::dry_run : s.mode, s.run_id,
                                   s.operator_name);
  nlohmann::json j{{"tool", r.tool},           {"tool_table", r.tool_table}, {"ledger", r.ledger},
                   {"matched", r.matched},     {"already", r.already},       {"differs", r.differs},
                   {"failed", r.failed},       {"unknown", r.unknown},       {"pending", r.pending},
                   {"recorded", r.recorded},   {"blockers", r.blockers()}};
  if (s.record && !opt_bool_field(L, 3, "dry", false)) s.record("adopt", j);
  push_json(L, j);
  return 1;
}

// migrations.baseline(conn, chain, version [, {ledger=}]) -> names recorded
int mig_baseline(lua_State* L) {
  auto& conn = check_connection(L, 1);
  const auto& chain = check_chain(L, 2);
  const std::string version = check_string(L, 3);
  auto& s = services(L);
  migrations::Ledger ledger(conn, ledger_name(L, 4), &chain);
  const auto names = migrations::baseline(conn, ledger, chain, version, s.mode, s.run_id, s.operator_name);
  if (s.say)
    s.say((s.mode == RunMode::live ? "baselined " : "would baseline ") + std::to_string(names.size()) +
          " migration(s) up to " + version);
  if (s.record) s.record("baseline", {{"version", version}, {"migrations", names}});
  lua_createtable(L, static_cast<int>(names.size()), 0);
  for (std::size_t i = 0; i < names.size(); ++i) {
    lua_pushstring(L, names[i].c_str());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

// migrations.lock_holder(conn [, {ledger=}]) -> description or nil
int mig_lock_holder(lua_State* L) {
  auto& conn = check_connection(L, 1);
  migrations::Ledger ledger(conn, ledger_name(L, 2));
  const std::string who = migrations::lock_holder(conn, ledger.lock_key());
  if (who.empty()) return 0;
  lua_pushstring(L, who.c_str());
  return 1;
}

const luaL_Reg kChainMethods[] = {
    {"list", guarded<chain_list>},
    {"get", guarded<chain_get>},
    {"directory", guarded<chain_directory>},
    {"layout", guarded<chain_layout>},
    {"ordering", guarded<chain_ordering>},
    {"new_migration", guarded<chain_new_migration>},
    {nullptr, nullptr},
};

const luaL_Reg kMigrationFunctions[] = {
    {"load", guarded<mig_load>},
    {"layouts", guarded<mig_layouts>},
    {"ledger_table", guarded<mig_ledger_table>},
    {"tool_ledgers", guarded<mig_tool_ledgers>},
    {"foreign_ledgers", guarded<mig_foreign_ledgers>},
    {"status", guarded<mig_status>},
    {"plan", guarded<plan_new>},
    {"approve", guarded<mig_approve>},
    {"approvals_of", guarded<mig_approvals_of>},
    {"apply", guarded<mig_apply>},
    {"rollback", guarded<mig_rollback>},
    {"verify_backup", guarded<mig_verify_backup>},
    {"resolve", guarded<mig_resolve>},
    {"baseline", guarded<mig_baseline>},
    {"adopt", guarded<mig_adopt>},
    {"lock_holder", guarded<mig_lock_holder>},
    {nullptr, nullptr},
};

}  // namespace

migrations::Chain& check_chain(lua_State* L, int index) {
  auto* h = static_cast<ChainHandle*>(luaL_checkudata(L, index, kChainType));
  if (!h->chain) luaL_error(L, "migration chain is released");
  return *h->chain;
}

int open_migrations(lua_State* L) {
  register_plan_type(L);
  if (luaL_newmetatable(L, kChainType)) {  // [mt]
    lua_newtable(L);
    set_functions(L, kChainMethods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, chain_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  set_functions(L, kMigrationFunctions);
  return 1;
}

}  // namespace rb::lua
