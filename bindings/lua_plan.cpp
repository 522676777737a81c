// migrations.plan(...) and the plan handle's methods: translation only. What a run changes,
// what it requires and whether the requirements are met are decided in engine/plan.*.
#include "bindings/lua_plan.hpp"

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "bindings/host_state.hpp"
#include "bindings/lua_db.hpp"
#include "bindings/lua_support.hpp"
#include "engine/apply.hpp"
#include "engine/files.hpp"
#include "engine/errors.hpp"

namespace fs = std::filesystem;

namespace rb::lua {

struct PlanState {
  migrations::Plan plan;
  migrations::Consent consent;
  fs::file_time_type made_at;
  std::unique_ptr<migrations::Ledger> ledger;
  std::unique_ptr<migrations::LedgerLock> lock;
  int conn_ref = LUA_NOREF;  // keeps the locked connection alive while the lock is held
  const migrations::Chain* chain = nullptr;  // the plan's chain: a tool's ledger is read against it
  int chain_ref = LUA_NOREF;                 // keeps it alive as long as the plan
};

namespace {

constexpr const char* kPlanType = "rb.migrations.plan";

struct PlanHandle {
  PlanState* state;
};

PlanState& check_state(lua_State* L, int index) {
  auto* h = static_cast<PlanHandle*>(luaL_checkudata(L, index, kPlanType));
  if (!h->state) luaL_error(L, "plan is released");
  return *h->state;
}

void set_string(lua_State* L, const char* key, const std::string& v) {
  lua_pushlstring(L, v.data(), v.size());
  lua_setfield(L, -2, key);
}

void push_strings(lua_State* L, const std::vector<std::string>& list) {
  lua_createtable(L, static_cast<int>(list.size()), 0);
  for (std::size_t i = 0; i < list.size(); ++i) {
    lua_pushlstring(L, list[i].data(), list[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
}

void push_finding(lua_State* L, const migrations::Finding& f) {
  lua_newtable(L);
  set_string(L, "id", f.id);
  set_string(L, "file", f.lint.file);
  lua_pushinteger(L, f.lint.line);
  lua_setfield(L, -2, "line");
  set_string(L, "rule", f.lint.rule);
  set_string(L, "severity", f.lint.severity);
  set_string(L, "message", f.lint.message);
  lua_pushboolean(L, f.lint.destructive);
  lua_setfield(L, -2, "destructive");
}

migrations::DatabaseIdentity identity_of(db::Connection& conn) {
  migrations::DatabaseIdentity id;
  auto r = conn.query(
      "SELECT current_database(), coalesce(host(inet_server_addr()) || ':' || inet_server_port(),"
      " 'local socket, port ' || current_setting('port'))");
  id.name = r.rows.at(0).at(0).text;
  id.server = r.rows.at(0).at(1).text;
  try {
    id.system_identifier = conn.query("SELECT system_identifier::text FROM pg_control_system()").rows.at(0).at(0).text;
  } catch (const std::exception&) {
    // Not granted to this role: the database name and server identify it.
  }
  return id;
}

void record(lua_State* L, const std::string& kind, const nlohmann::json& detail) {
  auto& s = services(L);
  if (s.record) s.record(kind, detail);
}

// plan:kind() plan:id() plan:empty() plan:count() plan:ledger()
int plan_kind(lua_State* L) {
  lua_pushstring(L, migrations::to_string(check_plan(L, 1).kind));
  return 1;
}
int plan_id(lua_State* L) {
  lua_pushstring(L, check_plan(L, 1).id().c_str());
  return 1;
}
int plan_empty(lua_State* L) {
  lua_pushboolean(L, check_plan(L, 1).empty());
  return 1;
}
int plan_count(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(check_plan(L, 1).migrations.size()));
  return 1;
}
int plan_names(lua_State* L) {
  std::vector<std::string> names;
  for (const auto& m : check_plan(L, 1).migrations) names.push_back(m.name);
  push_strings(L, names);
  return 1;
}
int plan_drift(lua_State* L) {
  push_strings(L, check_plan(L, 1).drift);
  return 1;
}
int plan_missing_down(lua_State* L) {
  push_strings(L, check_plan(L, 1).missing_down);
  return 1;
}
int plan_database(lua_State* L) {
  lua_pushstring(L, check_plan(L, 1).database.text().c_str());
  return 1;
}

// plan:migrations() -> { {name, version, path, sha256, sql, transaction, gap, statements,
//                         findings = {...}, extensions = {...}}, ... }
int plan_migrations(lua_State* L) {
  const auto& plan = check_plan(L, 1);
  lua_createtable(L, static_cast<int>(plan.migrations.size()), 0);
  for (std::size_t i = 0; i < plan.migrations.size(); ++i) {
    const auto& m = plan.migrations[i];
    lua_newtable(L);
    set_string(L, "name", m.name);
    set_string(L, "version", m.version);
    set_string(L, "path", m.path);
    set_string(L, "sha256", m.sha256);
    set_string(L, "sql", m.sql);
    set_string(L, "transaction", migrations::to_string(m.tx));
    lua_pushboolean(L, m.gap);
    lua_setfield(L, -2, "gap");
    lua_pushinteger(L, static_cast<lua_Integer>(m.script.statements.size()));
    lua_setfield(L, -2, "statements");
    lua_createtable(L, static_cast<int>(m.findings.size()), 0);
    for (std::size_t k = 0; k < m.findings.size(); ++k) {
      push_finding(L, m.findings[k]);
      lua_rawseti(L, -2, static_cast<int>(k + 1));
    }
    lua_setfield(L, -2, "findings");
    push_strings(L, m.extensions);
    lua_setfield(L, -2, "extensions");
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

// plan:status() -> the status table the plan was computed from (no ledger read)
int plan_status(lua_State* L) {
  push_status(L, check_plan(L, 1).status);
  return 1;
}

// plan:policy() -> {confirm=, backup=, acknowledge_destructive=, maintenance=, loosened={}}
int plan_policy(lua_State* L) {
  const auto& p = check_plan(L, 1).policy;
  lua_newtable(L);
  set_string(L, "confirm", p.confirm_token);
  set_string(L, "backup", p.backup);
  lua_pushboolean(L, p.acknowledge_destructive);
  lua_setfield(L, -2, "acknowledge_destructive");
  lua_pushboolean(L, p.maintenance);
  lua_setfield(L, -2, "maintenance");
  push_strings(L, p.loosened);
  lua_setfield(L, -2, "loosened");
  return 1;
}

// plan:unmet() -> the requirements this run has not met yet, one line each
int plan_unmet(lua_State* L) {
  push_strings(L, migrations::unmet_requirements(check_plan(L, 1), plan_consent(L, 1)));
  return 1;
}

// plan:require_met(what) raises an "aborted" error listing what is unmet (live runs only).
int plan_require_met(lua_State* L) {
  auto& st = check_state(L, 1);
  const std::string what = luaL_optstring(L, 2, "change the database");
  if (!changes_allowed(services(L).mode)) return 0;
  const auto unmet = migrations::unmet_requirements(st.plan, plan_consent(L, 1));
  if (unmet.empty()) return 0;
  std::string msg = "refusing to " + what + ": this run has not met the plan's requirements:";
  for (const auto& u : unmet) msg += "\n  - " + u;
  throw AbortError(msg + "\n  Nothing was changed.");
}

// plan:confirm(question): destructive findings acknowledged by name (--ack, or one by one at a
// terminal; --yes never), then the policy's token or yes/no question. Dry-run says what it
// would ask.
int plan_confirm(lua_State* L) {
  auto& st = check_state(L, 1);
  const std::string question = check_string(L, 2);
  auto& host = host_state(L);
  require_effects(host.services.mode, "a confirmation");
  const bool dry = host.options.mode == RunMode::dry_run;
  const auto& plan = st.plan;
  if (plan.empty()) return 0;
  // The policy's checklist first (seeds 001/004's human items): a person ticks each one.
  // A rehearsal changes nothing that stays: it needs the token (it takes real locks), not the
  // human items of the change itself.
  if (!plan.policy.checklist.empty() && host.options.mode != RunMode::rehearse) {
    if (!host.policy_checklist) {
      host.policy_checklist = answer_checklist(host, plan.policy.checklist);
      for (const auto& t : host.policy_checklist->ticked) say(host, "info", "  [x] " + t.text + " (" + t.id + ") — " + t.by + ", " + t.how);
      record(L, "checklist", checklist::to_json(*host.policy_checklist));
    }
    const auto& done = *host.policy_checklist;
    if (!done.missing.empty()) {
      if (!dry) throw AbortError(checklist::missing_message(done.missing));
      say(host, "warn", checklist::missing_message(done.missing) + " (dry-run: a live run stops here)");
    }
    for (const auto& t : done.ticked) st.consent.checklist_ticked.insert(t.id);
  }
  std::set<std::string> named(host.options.acks.begin(), host.options.acks.end());
  std::set<std::string> ids;
  if (plan.policy.acknowledge_destructive) {
    std::vector<std::string> missing;
    for (const auto* f : plan.destructive()) {
      ids.insert(f->id);
      if (st.consent.acknowledged.count(f->id)) continue;
      const std::string what = f->lint.file + ":" + std::to_string(f->lint.line) + " [" + f->lint.rule + "] " +
                               f->lint.message;
      std::string how;
      if (named.count(f->id)) how = "--ack";
      else if (dry) {
        say(host, "info", "would ask to acknowledge destructive SQL: " + what + " (--ack " + f->id + ")");
        continue;
      } else if (ask_at_terminal(host, "Destructive SQL: " + what + "\nAcknowledge " + f->id + "?"))
        how = "terminal";
      if (how.empty()) {
        missing.push_back(what + "\n      pass --ack " + f->id);
        continue;
      }
      st.consent.acknowledged.insert(f->id);
      record(L, "acknowledgement", {{"finding", f->id}, {"file", f->lint.file}, {"line", f->lint.line}, {"how", how}});
    }
    if (!missing.empty()) {
      std::string msg = "destructive SQL must be acknowledged finding by finding (--yes never does it); "
                        "there is no terminal to ask at:";
      for (const auto& m : missing) msg += "\n  - " + m;
      throw AbortError(msg + "\n  Nothing was changed.");
    }
  }
  for (const auto& a : named)
    if (!ids.count(a))
      say(host, "warn", "warning: --ack " + a + " names no destructive finding of this plan (ignored)");
  const std::string how = ask_operator(host, question, plan.policy.confirm_token);
  if (!how.empty()) {
    st.consent.confirmed = true;
    st.consent.confirmed_by = how;
    record(L, "confirmation", {{"question", question}, {"how", how}, {"plan", plan.id()},
                               {"token_required", !plan.policy.confirm_token.empty()}});
  }
  return 0;
}

// plan:attach_backup(path, taken_at) -> {path, sha256, size, toc_entries, taken_at, plan} or nil
// (dry-run). The engine verifies the archive itself; only a backup written after the plan
// was made counts for it.
int plan_attach_backup(lua_State* L) {
  auto& st = check_state(L, 1);
  const std::string path = check_string(L, 2);
  const std::string taken_at = luaL_optstring(L, 3, "");
  if (!changes_allowed(services(L).mode)) return 0;
  std::error_code ec;
  const auto written = fs::last_write_time(path, ec);
  if (ec) throw StepError("backup " + path + " does not exist: " + ec.message());
  if (written < st.made_at)
    throw StepError("backup " + path + " was written before this run's plan was made: it does not back up this plan");
  auto proof = migrations::verify_backup(path);
  proof.taken_at = taken_at;
  proof.plan_id = st.plan.id();
  st.consent.backup = proof;
  st.consent.backup_taken = true;
  push_backup_proof(L, proof);
  return 1;
}

// plan:entered_maintenance(): the pause step of this run ran.
int plan_entered_maintenance(lua_State* L) {
  check_state(L, 1).consent.maintenance = true;
  return 0;
}

// plan:lock(conn, {wait = seconds}) -> true when the ledger is still the plan's, false when it
// moved meanwhile (make a new plan). Held until plan:unlock() or the end of the run.
int plan_lock(lua_State* L) {
  auto& st = check_state(L, 1);
  auto& conn = check_connection(L, 2);
  const double wait = lua_istable(L, 3) ? opt_number_field(L, 3, "wait", 60) : 60;
  if (!st.lock) {
    st.ledger = std::make_unique<migrations::Ledger>(conn, migrations::LedgerName::parse(st.plan.ledger), st.chain);
    auto& s = services(L);
    migrations::ApplyObserver obs;
    obs.waiting_for_lock = [&s](const std::string& m) { if (s.say) s.say(m); };
    st.lock = std::make_unique<migrations::LedgerLock>(conn, *st.ledger, true, wait, obs);
    lua_pushvalue(L, 2);
    st.conn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_pushboolean(L, migrations::ledger_fingerprint(st.ledger->read()) == st.plan.ledger_fingerprint);
  return 1;
}

void release_lock(lua_State* L, PlanState& st) {
  st.lock.reset();
  st.ledger.reset();
  if (st.conn_ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, st.conn_ref);
    st.conn_ref = LUA_NOREF;
  }
}

int plan_unlock(lua_State* L) {
  release_lock(L, check_state(L, 1));
  return 0;
}

int plan_locked(lua_State* L) {
  lua_pushboolean(L, check_state(L, 1).lock != nullptr);
  return 1;
}

// plan:save(path): the plan as JSON (--plan-out). Written in every mode: it is the output of a
// dry-run, like the run record.
int plan_save(lua_State* L) {
  const auto& plan = check_plan(L, 1);
  const std::string path = check_string(L, 2);
  // 0600 and atomic, like the run record: a plan names the database, its files and findings.
  try {
    files::write_private(path, migrations::to_json(plan).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  } catch (const std::exception& e) {
    throw ConfigError("--plan-out " + path + ": " + e.what());
  }
  return 0;
}

// plan:differences(path) -> what differs from the saved plan in `path`, one line each
int plan_differences(lua_State* L) {
  const auto& plan = check_plan(L, 1);
  const std::string path = check_string(L, 2);
  std::ifstream in(path);
  if (!in) throw ConfigError("--plan " + path + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json saved = nlohmann::json::parse(text.str(), nullptr, false);
  if (saved.is_discarded()) throw ConfigError("--plan " + path + ": not JSON (a file written by --plan-out?)");
  push_strings(L, migrations::differences(saved, plan));
  return 1;
}

// plan:check_approvals(conn) -> {required, met, counted = {...}, ignored = {...}}: reads the
// approvals of this plan's id on `conn` (approve.lua wrote them) and decides by the run's policy
// (the environment's approvals). Not met: AbortError naming who approved and how many are
// missing; in dry-run only said. Met: the engine lets the plan run (Consent::approvals_met).
int plan_check_approvals(lua_State* L) {
  auto& st = check_state(L, 1);
  auto& conn = check_connection(L, 2);
  auto& host = host_state(L);
  const auto& policy = st.plan.policy.approvals;
  nlohmann::json out{{"required", policy.required}, {"met", true}};
  if (policy.required > 0 && !st.plan.empty()) {
    const auto id = st.plan.id();
    const auto d = approvals::decide(policy, approvals::of_plan(conn, id), host.services.operator_name, id);
    out = {{"plan_id", id}, {"required", policy.required}, {"met", d.met}, {"counted", d.counted}, {"ignored", d.ignored},
           {"missing", d.missing}};
    record(L, "approvals", out);
    for (const auto& c : d.counted) say(host, "info", "approved by " + c);
    if (d.met) {
      st.consent.approvals_met = true;
    } else if (host.options.mode == RunMode::dry_run) {
      say(host, "warn", d.message + " (dry-run: a live run stops here)");
    } else {
      throw AbortError(d.message);
    }
  }
  push_json(L, out);
  return 1;
}

// plan:json() -> the plan as a Lua table (the same document --plan-out writes)
int plan_json(lua_State* L) {
  push_json(L, migrations::to_json(check_plan(L, 1)));
  return 1;
}

int plan_gc(lua_State* L) {
  auto* h = static_cast<PlanHandle*>(luaL_checkudata(L, 1, kPlanType));
  if (h->state) {
    release_lock(L, *h->state);
    if (h->state->chain_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, h->state->chain_ref);
    delete h->state;
    h->state = nullptr;
  }
  return 0;
}

const luaL_Reg kPlanMethods[] = {
    {"kind", guarded<plan_kind>},
    {"id", guarded<plan_id>},
    {"empty", guarded<plan_empty>},
    {"count", guarded<plan_count>},
    {"names", guarded<plan_names>},
    {"drift", guarded<plan_drift>},
    {"missing_down", guarded<plan_missing_down>},
    {"database", guarded<plan_database>},
    {"migrations", guarded<plan_migrations>},
    {"policy", guarded<plan_policy>},
    {"status", guarded<plan_status>},
    {"unmet", guarded<plan_unmet>},
    {"require_met", guarded<plan_require_met>},
    {"confirm", guarded<plan_confirm>},
    {"check_approvals", guarded<plan_check_approvals>},
    {"attach_backup", guarded<plan_attach_backup>},
    {"entered_maintenance", guarded<plan_entered_maintenance>},
    {"lock", guarded<plan_lock>},
    {"unlock", guarded<plan_unlock>},
    {"locked", guarded<plan_locked>},
    {"save", guarded<plan_save>},
    {"differences", guarded<plan_differences>},
    {"json", guarded<plan_json>},
    {nullptr, nullptr},
};

}  // namespace

migrations::Plan& check_plan(lua_State* L, int index) { return check_state(L, index).plan; }

void push_backup_proof(lua_State* L, const migrations::BackupProof& proof) {
  lua_newtable(L);
  set_string(L, "path", proof.path);
  set_string(L, "sha256", proof.sha256);
  lua_pushnumber(L, static_cast<double>(proof.size));
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, proof.toc_entries);
  lua_setfield(L, -2, "toc_entries");
  if (!proof.plan_id.empty()) {
    set_string(L, "taken_at", proof.taken_at);
    set_string(L, "plan", proof.plan_id);
  }
}
migrations::Consent plan_consent(lua_State* L, int index) {
  migrations::Consent c = check_state(L, index).consent;
  const auto& host = host_state(L);
  if (!c.confirmed && !host.run_confirmed_by.empty()) {
    c.confirmed = true;
    c.confirmed_by = host.run_confirmed_by;
  }
  return c;
}

// migrations.plan(conn, chain, {kind = "apply"|"rollback", target=, allow_drift=, count=, to=,
// ledger=}) -> plan. The policy is the run's (host.set_policy), never an argument.
int plan_new(lua_State* L) {
  auto& conn = check_connection(L, 1);
  const migrations::Chain& chain = check_chain(L, 2);
  migrations::PlanOptions o;
  std::string ledger_text;  // as --set ledger= gave it: "" keeps the default's refusal of a foreign ledger
  if (lua_istable(L, 3)) {
    const std::string kind = opt_string_field(L, 3, "kind", "apply");
    if (kind != "apply" && kind != "rollback")
      throw ConfigError("migrations.plan: kind must be \"apply\" or \"rollback\", got \"" + kind + "\"");
    o.kind = kind == "apply" ? migrations::PlanKind::apply : migrations::PlanKind::rollback;
    o.target = opt_string_field(L, 3, "target", "");
    o.allow_drift = opt_bool_field(L, 3, "allow_drift", false);
    o.count = static_cast<int>(opt_number_field(L, 3, "count", 1));
    o.to = opt_string_field(L, 3, "to", "");
    ledger_text = opt_string_field(L, 3, "ledger", "");
  }
  o.server_version = conn.server_version();
  auto& host = host_state(L);
  if (!host.policy_set) throw ConfigError("migrations.plan: the run's policy is not set (runbooks run through the runbook core)");
  const auto ledger_name = migrations::LedgerName::parse(ledger_text);
  const std::string ledger = ledger_name.spec();
  migrations::Ledger l(conn, ledger_name, &chain);
  auto state = std::make_unique<PlanState>();
  state->made_at = fs::file_time_type::clock::now();
  state->plan = migrations::make_plan(chain, l.read(), ledger, o, host.policy);
  state->plan.database = identity_of(conn);
  state->chain = &chain;
  lua_pushvalue(L, 2);
  state->chain_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  auto* h = static_cast<PlanHandle*>(lua_newuserdata(L, sizeof(PlanHandle)));
  h->state = nullptr;
  luaL_getmetatable(L, kPlanType);
  lua_setmetatable(L, -2);
  h->state = state.release();
  return 1;
}

void register_plan_type(lua_State* L) {
  if (luaL_newmetatable(L, kPlanType)) {
    lua_newtable(L);
    set_functions(L, kPlanMethods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, plan_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}

// migrations.approve(conn, plan_id, {approver=, comment=}): records one approval of the plan
// (approve.lua); the table is created on first use, append-only.
int mig_approve(lua_State* L) {
  auto& conn = check_connection(L, 1);
  const std::string id = check_string(L, 2);
  auto& host = host_state(L);
  require_effects(host.services.mode, "recording an approval");
  if (id.size() != 64 || id.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw ConfigError("not a plan id (64 hex digits): " + id);
  approvals::Approval a;
  a.plan_id = id;
  a.approver = lua_istable(L, 3) ? opt_string_field(L, 3, "approver", "") : "";
  a.comment = lua_istable(L, 3) ? opt_string_field(L, 3, "comment", "") : "";
  if (a.approver.empty()) throw ConfigError("migrations.approve: an approver is required");
  a.host = host_name();
  a.run_id = host.run_id;
  if (host.options.mode == RunMode::dry_run) {
    say(host, "info", "would record the approval of plan " + id.substr(0, 12) + " by " + a.approver + " in " + approvals::kTable);
    return 0;
  }
  approvals::record(conn, a);
  record(L, "approval", {{"plan_id", id}, {"approver", a.approver}, {"comment", a.comment}});
  return 0;
}

// migrations.approvals_of(conn, plan_id) -> {{approver, comment, approved_at, host, run_id}}
int mig_approvals_of(lua_State* L) {
  auto& conn = check_connection(L, 1);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : approvals::of_plan(conn, check_string(L, 2)))
    out.push_back({{"approver", a.approver}, {"comment", a.comment}, {"approved_at", a.approved_at}, {"host", a.host},
                   {"run_id", a.run_id}});
  push_json(L, out);
  return 1;
}


}  // namespace rb::lua
