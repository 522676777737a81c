// require "runbook.host": what the runbook core (runbook.lua) needs from the C++ host —
// output, the run record, confirmations, secrets. Not meant for runbooks themselves.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "bindings/host_state.hpp"
#include "bindings/modules.hpp"
#include "engine/cancel.hpp"
#include "engine/checklist.hpp"
#include "engine/files.hpp"
#include "engine/errors.hpp"
#include "engine/run_stats.hpp"

extern "C" {
#include <libpq-fe.h>
}

namespace rb::lua {
namespace {

int host_say(lua_State* L) {
  const std::string level = check_string(L, 1);
  const std::string message = check_string(L, 2);
  say(host_state(L), level, message);
  return 0;
}

int host_add_secret(lua_State* L) {
  if (lua_isstring(L, 1)) host_state(L).redactor.add(check_string(L, 1));
  return 0;
}

// Registers the password inside a connection URL or conninfo string as a secret, in every
// form it may be printed in (engine/redact.hpp).
int host_add_secret_url(lua_State* L) {
  if (lua_isstring(L, 1)) host_state(L).redactor.add_conninfo(check_string(L, 1));
  return 0;
}

int host_journal_start(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  auto& st = host_state(L);
  // A second argument false: the record stays in memory (--json still streams its events), no file is
  // written (status.lua: a look, not a run).
  const bool write = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
  nlohmann::json header = to_json(L, 1);
  events::Sink sink;
  if (st.options.json) sink = [&st](const nlohmann::json& e) { print_event(st, e); };
  st.journal = std::make_unique<Journal>(write ? st.options.journal_dir : "", st.run_id, header, &st.redactor, sink);
  st.journal->on_write_error = [&st](const std::string& m) {
    if (st.services.warn) st.services.warn(m);
  };
  return 0;
}

Journal& journal(lua_State* L) {
  auto& st = host_state(L);
  if (!st.journal) throw StepError("the run record is not started");
  return *st.journal;
}

int host_step_started(lua_State* L) {
  const std::string name = check_string(L, 1);
  const std::string description = luaL_optstring(L, 2, "");
  journal(L).step_started(name, description);
  return 0;
}

int host_step_finished(lua_State* L) {
  const std::string status = check_string(L, 1);
  const std::string error = luaL_optstring(L, 2, "");
  journal(L).step_finished(status, error);
  return 0;
}

int host_journal_skip(lua_State* L) {
  const std::string name = check_string(L, 1);
  const std::string reason = luaL_optstring(L, 2, "");
  journal(L).step_skipped(name, reason);
  return 0;
}

int host_event(lua_State* L) {
  const std::string kind = check_string(L, 1);
  nlohmann::json detail = lua_istable(L, 2) ? to_json(L, 2) : nlohmann::json::object();
  if (!detail.is_object()) detail = nlohmann::json{{"value", detail}};
  journal(L).event(kind, detail);
  return 0;
}

// Sets a top-level field of the run record (e.g. the database once connected).
int host_journal_set(lua_State* L) {
  const std::string key = check_string(L, 1);
  journal(L).set(key, to_json(L, 2));
  return 0;
}

int host_finish(lua_State* L) {
  const std::string status = check_string(L, 1);
  const int code = static_cast<int>(luaL_checkinteger(L, 2));
  const std::string error = luaL_optstring(L, 3, "");
  const auto& stats = run_stats();
  journal(L).set("stats", {{"parses", stats.parses}, {"ledger_reads", stats.ledger_reads}});
  journal(L).finish(status, code, error);
  return 0;
}

std::string read_answer() {
  std::string line;
  if (!std::getline(std::cin, line)) return "";
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

int host_confirm(lua_State* L) {
  const std::string question = check_string(L, 1);
  const std::string token = luaL_optstring(L, 2, "");
  auto& st = host_state(L);
  ask_operator(st, question, token);
  return 0;
}

namespace {
// Items from a Lua list of strings or {id=, text=} at `index`.
std::vector<checklist::Item> checklist_items(lua_State* L, int index) {
  std::vector<checklist::Item> items;
  if (!lua_istable(L, index)) return items;
  for (int i = 1;; ++i) {
    lua_rawgeti(L, index, i);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      break;
    }
    checklist::Item item;
    if (lua_type(L, -1) == LUA_TSTRING) {
      item.text = lua_tostring(L, -1);
    } else if (lua_istable(L, -1)) {
      item.id = opt_string_field(L, -1, "id", "");
      item.text = opt_string_field(L, -1, "text", "");
    } else {
      lua_pop(L, 1);
      throw ConfigError("checklist: item " + std::to_string(i) + " must be a string or { id = , text = }");
    }
    lua_pop(L, 1);
    items.push_back(std::move(item));
  }
  return checklist::normalise(items);
}
}  // namespace

// host.set_policy{confirm=, backup=, acknowledge_destructive=, maintenance=, env_confirm=,
// env_backup=, changes={{key=, from=, to=, by=}, ...}} -> the effective policy. Once per run:
// the environment can only make the backup stricter and names its own token; a composition's
// loosening of a setting is kept in the policy (and so in every plan and the run record).
int host_set_policy(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  auto& st = host_state(L);
  if (st.policy_set) throw ConfigError("the run's policy is already set");
  migrations::Policy p;
  const std::string confirm = opt_string_field(L, 1, "confirm", "");
  const std::string env_confirm = opt_string_field(L, 1, "env_confirm", "");
  p.confirm_token = !env_confirm.empty() ? env_confirm : confirm;
  p.backup = migrations::stricter_backup(opt_string_field(L, 1, "backup", "optional"),
                                         opt_string_field(L, 1, "env_backup", "skip"));
  p.acknowledge_destructive = opt_bool_field(L, 1, "acknowledge_destructive", false);
  p.maintenance = opt_bool_field(L, 1, "maintenance", false);
  lua_getfield(L, 1, "checklist");
  p.checklist = checklist_items(L, lua_gettop(L));
  lua_pop(L, 1);
  lua_getfield(L, 1, "approvals");  // the environment's { required =, approvers = {...}, self_approval = }
  if (lua_istable(L, -1)) {
    const int a = lua_gettop(L);
    const double required = opt_number_field(L, a, "required", 0);
    if (required < 0 || required != static_cast<int>(required))
      throw ConfigError("approvals.required must be a whole number of approvers, got " + std::to_string(required));
    p.approvals.required = static_cast<int>(required);
    p.approvals.self_approval = opt_bool_field(L, a, "self_approval", false);
    lua_getfield(L, a, "approvers");
    if (lua_istable(L, -1))
      for (int i = 1;; ++i) {
        lua_rawgeti(L, -1, i);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          break;
        }
        if (lua_type(L, -1) != LUA_TSTRING) throw ConfigError("approvals.approvers must be a list of names");
        p.approvals.approvers.push_back(lua_tostring(L, -1));
        lua_pop(L, 1);
      }
    lua_pop(L, 1);
    if (!p.approvals.approvers.empty() && p.approvals.required > static_cast<int>(p.approvals.approvers.size()))
      throw ConfigError("approvals.required is " + std::to_string(p.approvals.required) + " but only " +
                        std::to_string(p.approvals.approvers.size()) + " approvers are listed");
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "changes");
  if (lua_istable(L, -1)) {
    const int changes = lua_gettop(L);
    for (int i = 1;; ++i) {
      lua_rawgeti(L, changes, i);
      if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      const int c = lua_gettop(L);
      const std::string key = opt_string_field(L, c, "key", "");
      const std::string from = opt_string_field(L, c, "from", "");
      const std::string to = opt_string_field(L, c, "to", "");
      if (migrations::loosens(key, from, to))
        p.loosened.push_back(key + ": " + from + " -> " + to + " (by " + opt_string_field(L, c, "by", "?") + ")");
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  st.policy = p;
  st.policy_set = true;
  lua_newtable(L);
  lua_pushstring(L, p.confirm_token.c_str());
  lua_setfield(L, -2, "confirm");
  lua_pushstring(L, p.backup.c_str());
  lua_setfield(L, -2, "backup");
  lua_pushboolean(L, p.acknowledge_destructive);
  lua_setfield(L, -2, "acknowledge_destructive");
  lua_pushboolean(L, p.maintenance);
  lua_setfield(L, -2, "maintenance");
  lua_createtable(L, static_cast<int>(p.loosened.size()), 0);
  for (std::size_t i = 0; i < p.loosened.size(); ++i) {
    lua_pushstring(L, p.loosened[i].c_str());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "loosened");
  return 1;
}

// host.cleanup(fn, ...) runs fn inside a cancel::Cleanup: the failure handler of an
// interrupted run still resumes workers; only a further ^C stops it.
int host_cleanup(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  const int args = lua_gettop(L) - 1;
  auto scope = std::make_unique<cancel::Cleanup>();
  const int rc = lua_pcall(L, args, 2, 0);
  scope.reset();
  if (rc != 0) {  // [err] -> false, false, err
    lua_pushboolean(L, 0);
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -3);
    lua_remove(L, -4);
    return 3;
  }
  lua_pushboolean(L, 1);
  lua_insert(L, -3);
  return 3;
}

// The message handler of host.stoppable: runs the runbook's handler (upvalue 1) where no stop
// is raised, and if that handler fails anyway, keeps the original error rather than Lua's
// "error in error handling".
int guarded_error_handler(lua_State* L) {
  HostState& st = host_state(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  ++st.in_error_handler;
  const int rc = lua_pcall(L, 1, 1, 0);
  --st.in_error_handler;
  if (rc != 0) lua_pushvalue(L, 1);
  return 1;
}

// host.stoppable(fn, handler, ...) is xpcall(fn, handler, ...) in a stoppable region: the first
// ^C, SIGTERM, SIGHUP or a passed time limit raises "aborted" inside fn even when it loops in Lua.
int host_stoppable(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, guarded_error_handler, 1);
  lua_remove(L, 2);
  lua_insert(L, 1);  // [guarded handler, fn, args...]
  const int nargs = lua_gettop(L) - 2;
  int rc = 0;
  {
    StoppableRegion region(host_state(L));
    rc = lua_pcall(L, nargs, LUA_MULTRET, 1);
  }
  lua_pushboolean(L, rc == 0);
  lua_replace(L, 1);  // [ok, results... | err]
  return lua_gettop(L);
}

// host.set_deadline("run"|"step", seconds, label) / host.clear_deadline(slot): time limits that
// stop the run like ^C does (engine/cancel.hpp).
rb::cancel::Deadline deadline_slot(lua_State* L, int index) {
  const std::string slot = check_string(L, index);
  if (slot == "run") return rb::cancel::Deadline::run;
  if (slot == "step") return rb::cancel::Deadline::step;
  luaL_argerror(L, index, "expected \"run\" or \"step\"");
  return rb::cancel::Deadline::run;
}

int host_set_deadline(lua_State* L) {
  const auto slot = deadline_slot(L, 1);
  rb::cancel::set_deadline(slot, luaL_checknumber(L, 2), check_string(L, 3));
  return 0;
}

int host_clear_deadline(lua_State* L) {
  rb::cancel::clear_deadline(deadline_slot(L, 1));
  return 0;
}

// What stopped the run ("^C", "SIGTERM", "timeout: ...") and whether it was a time limit.
int host_stop_reason(lua_State* L) {
  lua_pushstring(L, rb::cancel::reason().c_str());
  lua_pushboolean(L, rb::cancel::timed_out());
  return 2;
}

// The exit code of an error kind: one table (rb::exit_code_for), also for Lua.
int host_exit_code(lua_State* L) {
  lua_pushinteger(L, static_cast<int>(exit_code_for(check_string(L, 1))));
  return 1;
}

int host_interrupted(lua_State* L) {
  lua_pushboolean(L, rb::cancel::requested());
  return 1;
}

int host_run_id(lua_State* L) {
  lua_pushstring(L, host_state(L).run_id.c_str());
  return 1;
}

int host_version(lua_State* L) {
  lua_pushstring(L, RUNBOOK_VERSION);
  return 1;
}

int host_operator(lua_State* L) {
  lua_pushstring(L, operator_name().c_str());
  return 1;
}

int host_hostname(lua_State* L) {
  lua_pushstring(L, host_name().c_str());
  return 1;
}

int host_journal_dir(lua_State* L) {
  lua_pushstring(L, host_state(L).options.journal_dir.c_str());
  return 1;
}

}  // namespace

int host_checklist(lua_State* L);  // below, next to answer_checklist
int host_notify_setup(lua_State* L);
int host_notify(lua_State* L);
int host_sleep(lua_State* L);

namespace {

const luaL_Reg kHostFunctions[] = {
    {"say", guarded<host_say>},
    {"add_secret", guarded<host_add_secret>},
    {"add_secret_url", guarded<host_add_secret_url>},
    {"journal_start", guarded<host_journal_start>},
    {"checklist", guarded<host_checklist>},
    {"notify_setup", guarded<host_notify_setup>},
    {"notify", guarded<host_notify>},
    {"journal_skip", guarded<host_journal_skip>},
    {"step_started", guarded<host_step_started>},
    {"step_finished", guarded<host_step_finished>},
    {"event", guarded<host_event>},
    {"finish", guarded<host_finish>},
    {"journal_set", guarded<host_journal_set>},
    {"confirm", guarded<host_confirm>},
    {"set_policy", guarded<host_set_policy>},
    {"cleanup", host_cleanup},
    {"stoppable", host_stoppable},
    {"set_deadline", guarded<host_set_deadline>},
    {"clear_deadline", guarded<host_clear_deadline>},
    {"stop_reason", guarded<host_stop_reason>},
    {"exit_code", guarded<host_exit_code>},
    {"interrupted", guarded<host_interrupted>},
    {"sleep", guarded<host_sleep>},
    {"run_id", guarded<host_run_id>},
    {"version", guarded<host_version>},
    {"operator", guarded<host_operator>},
    {"hostname", guarded<host_hostname>},
    {"journal_dir", guarded<host_journal_dir>},
    {nullptr, nullptr},
};

}  // namespace

namespace {
std::string ask_operator_once(HostState& st, const std::string& question, const std::string& token);
}

std::string ask_operator(HostState& st, const std::string& question, const std::string& token) {
  const std::string how = ask_operator_once(st, question, token);
  if (!how.empty() && st.policy_set && token == st.policy.confirm_token) st.run_confirmed_by = how;
  return how;
}

namespace {
std::string ask_operator_once(HostState& st, const std::string& question, const std::string& token) {
  const auto& o = st.options;
  // A rehearsal runs the migrations (and takes their locks) on the real database before
  // rolling back: it asks like a live run. Only dry-run merely says what it would ask.
  if (st.options.mode == RunMode::dry_run) {
    say(st, "info", "would ask: " + question + (token.empty() ? " [y/N]" : " (type " + token + ")"));
    return "";
  }
  if (!token.empty()) {
    if (!o.confirm.empty()) {
      if (o.confirm == token) {
        say(st, "info", question + " confirmed by --confirm");
        return "--confirm";
      }
      throw AbortError("--confirm does not match the token this run requires (" + token + "); nothing more was changed");
    }
    if (isatty(STDIN_FILENO)) {
      std::cerr << question << "\nType " << token << " to continue: " << std::flush;
      if (read_answer() == token) return "terminal";
      throw AbortError("confirmation refused (the typed text did not match " + token + ")");
    }
    throw AbortError("confirmation required: \"" + question + "\" needs the token " + token +
                     " typed at a terminal or passed with --confirm; there is no terminal, so the run stops here");
  }
  if (o.yes) {
    say(st, "info", question + " yes (--yes)");
    return "--yes";
  }
  if (isatty(STDIN_FILENO)) {
    std::cerr << question << " [y/N] " << std::flush;
    const std::string a = read_answer();
    if (a == "y" || a == "Y" || a == "yes" || a == "YES") return "terminal";
    throw AbortError("confirmation refused: " + question);
  }
  throw AbortError("confirmation required: \"" + question +
                   "\" needs a terminal or --yes; there is no terminal, so the run stops here");
}
}  // namespace

bool ask_at_terminal(HostState&, const std::string& question) {
  if (!isatty(STDIN_FILENO)) return false;
  std::cerr << question << " [y/N] " << std::flush;
  const std::string a = read_answer();
  if (a == "y" || a == "Y" || a == "yes" || a == "YES") return true;
  throw AbortError("not acknowledged: " + question);
}


checklist::Outcome answer_checklist(HostState& st, const std::vector<checklist::Item>& items) {
  checklist::Answers answers;
  answers.checks.insert(st.options.checks.begin(), st.options.checks.end());
  if (!st.options.checklist_file.empty()) {
    answers.file = st.options.checklist_file;
    answers.in_file = checklist::parse_file(answers.file, files::read(answers.file));
  }
  const bool dry = st.options.mode == RunMode::dry_run;
  auto ask = [&](const checklist::Item& item) {
    if (dry) {
      say(st, "info", "would ask: [ ] " + item.text + " (" + item.id + ")");
      return false;
    }
    return ask_at_terminal(st, "[ ] " + item.text + " (" + item.id + ") — done?");
  };
  return checklist::resolve(items, answers, st.services.operator_name, ask);
}

// host.notify_setup(env.notify): { { url =, on = { "start", "success", "failure" }, format = } }
int host_notify_setup(lua_State* L) {
  auto& st = host_state(L);
  st.notify_targets.clear();
  if (!lua_istable(L, 1)) return 0;
  for (int i = 1;; ++i) {
    lua_rawgeti(L, 1, i);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      break;
    }
    const std::string where = "notify[" + std::to_string(i) + "]";
    if (!lua_istable(L, -1)) throw ConfigError(where + " must be a table { url = , on = { ... }, format = }");
    const int t = lua_gettop(L);
    notify::Target target;
    target.url = opt_string_field(L, t, "url", "");
    target.format = opt_string_field(L, t, "format", "json");
    lua_getfield(L, t, "on");
    if (lua_istable(L, -1)) {
      target.on.clear();
      for (int k = 1;; ++k) {
        lua_rawgeti(L, -1, k);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          break;
        }
        target.on.insert(lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 2);
    notify::validate(target, where);
    st.redactor.add(target.url);  // a webhook URL is a credential: never printed whole
    st.notify_targets.push_back(std::move(target));
  }
  return 0;
}

// host.notify(event, summary, status [, exit_code]): POSTs to each webhook that asked for the
// event; dry-run prints what it would send. Never raises: an undelivered notification is a
// warning and a `notification` event, and the run goes on.
int host_notify(lua_State* L) {
  auto& st = host_state(L);
  if (st.notify_targets.empty()) return 0;
  notify::Message m;
  m.event = check_string(L, 1);
  m.summary = check_string(L, 2);
  m.status = luaL_optstring(L, 3, "");
  m.exit_code = static_cast<int>(luaL_optinteger(L, 4, -1));
  m.run_id = st.run_id;
  m.mode = to_string(st.options.mode);
  m.environment = st.options.env;
  if (st.journal) {
    m.runbook = st.journal->record().value("runbook", "");
    m.record = st.journal->json_path();
  }
  for (const auto& t : st.notify_targets) {
    if (!t.on.count(m.event)) continue;
    if (st.options.mode == RunMode::dry_run) {
      say(st, "info", "would notify " + notify::shown_url(t.url) + " (" + m.event + ", " + t.format + "): " + notify::body(t, m));
      continue;
    }
    const auto d = notify::send(t, m);
    if (st.journal) st.journal->event("notification", notify::to_json(d, m.event));
    if (!d.delivered)
      say(st, "warn", "the " + m.event + " notification to " + d.url + " was not delivered after " + std::to_string(d.attempts) +
                          " attempt(s) (" + d.error + "); the run goes on");
  }
  return 0;
}

// host.sleep(seconds): waits, or raises "aborted" at once when the run is interrupted (^C,
// SIGTERM, a time limit): a monitoring window must not keep an operator who wants out.
int host_sleep(lua_State* L) {
  const double seconds = luaL_checknumber(L, 1);
  if (seconds < 0 || seconds > 7 * 24 * 3600) throw ConfigError("sleep: between 0 s and 7 days, got " + std::to_string(seconds));
  if (!cancel::sleep_for(seconds)) throw AbortError("interrupted (" + cancel::reason() + ") while waiting");
  return 0;
}

// host.checklist(items) -> { complete, items = {{id, text, ticked, by, how}}, message }
// Items: strings or {id=, text=}. The engine decides (engine/checklist.hpp); a terminal is
// asked item by item where --check and the --checklist file left one unanswered.
int host_checklist(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const auto outcome = answer_checklist(host_state(L), checklist_items(L, 1));
  push_json(L, checklist::to_json(outcome));
  lua_pushstring(L, checklist::missing_message(outcome.missing).c_str());
  lua_setfield(L, -2, "message");
  return 1;
}

int open_host(lua_State* L) {
  lua_newtable(L);
  set_functions(L, kHostFunctions);
  return 1;
}

}  // namespace rb::lua
