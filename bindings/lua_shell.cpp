// require "shell": runs programs from an argv list (engine/shell), honouring dry-run and
// masking secrets in everything said, recorded or raised.
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bindings/lua_support.hpp"
#include "bindings/modules.hpp"
#include "engine/cancel.hpp"
#include "engine/shell.hpp"

namespace rb::lua {

namespace {

extern const luaL_Reg kFunctions[];

constexpr int kStderrTailLines = 20;

// The positional strings of shell.run's table: the argv (or, with shell = true, one script).
std::vector<std::string> read_args(lua_State* L, int table) {
  std::vector<std::string> args;
  const int n = static_cast<int>(lua_objlen(L, table));
  for (int i = 1; i <= n; ++i) {
    lua_rawgeti(L, table, i);  // [.., arg]
    if (!lua_isstring(L, -1))
      throw ConfigError("shell.run: argument " + std::to_string(i) + " must be a string, not " +
                        luaL_typename(L, -1));
    size_t len = 0;
    const char* s = lua_tolstring(L, -1, &len);
    args.emplace_back(s, len);
    lua_pop(L, 1);  // [..]
  }
  if (args.empty()) throw ConfigError("shell.run: no program given");
  return args;
}

// opts.env: a table of NAME = value (strings or numbers).
std::map<std::string, std::string> read_env(lua_State* L, int table) {
  std::map<std::string, std::string> env;
  lua_getfield(L, table, "env");  // [.., env]
  if (!lua_isnil(L, -1)) {
    if (!lua_istable(L, -1)) throw ConfigError("shell.run: option 'env' must be a table");
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {  // [.., env, key, value]
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
        throw ConfigError("shell.run: 'env' must map names to strings");
      env[lua_tostring(L, -2)] = lua_tostring(L, -1);
    }
  }
  lua_pop(L, 1);  // [..]
  return env;
}

// opts.secrets (a list of strings) added to the host's redactor.
Redactor read_redactor(lua_State* L, int table, const Services& s) {
  Redactor redactor = s.redactor ? *s.redactor : Redactor{};
  lua_getfield(L, table, "secrets");  // [.., secrets]
  if (!lua_isnil(L, -1)) {
    if (!lua_istable(L, -1)) throw ConfigError("shell.run: option 'secrets' must be a list");
    for (int i = 1; i <= static_cast<int>(lua_objlen(L, -1)); ++i) {
      lua_rawgeti(L, -1, i);  // [.., secrets, secret]
      if (!lua_isstring(L, -1)) throw ConfigError("shell.run: 'secrets' must hold strings");
      redactor.add(lua_tostring(L, -1));
      lua_pop(L, 1);  // [.., secrets]
    }
  }
  lua_pop(L, 1);  // [..]
  return redactor;
}

nlohmann::json redacted_argv(const std::vector<std::string>& argv, const Redactor& redactor) {
  auto out = nlohmann::json::array();
  for (const auto& a : argv) out.push_back(redactor.apply(a));
  return out;
}

std::string last_lines(const std::string& text, int count) {
  std::size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  std::size_t begin = end;
  for (int lines = 0; begin > 0; --begin)
    if (text[begin - 1] == '\n' && ++lines == count) break;
  return text.substr(begin, end - begin);
}

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << seconds;
  return out.str();
}

std::string failure_message(const std::string& shown, const CommandResult& r, double timeout_s) {
  std::string what = r.timed_out ? "timed out after " + seconds_text(timeout_s) + " s"
                     : r.term_signal ? "was killed by signal " + std::to_string(r.term_signal) +
                                           " (" + strsignal(r.term_signal) + ")"
                                     : "exited with code " + std::to_string(r.exit_code);
  std::string tail = last_lines(r.err, kStderrTailLines);
  return "command failed: " + shown + " " + what + (tail.empty() ? "" : "; stderr:\n" + tail);
}

// "pg_dump -d app was stopped: interrupted by ^C (SIGTERM sent to its process group)".
std::string stopped_message(const std::string& shown, const CommandResult& r) {
  std::string how = "SIGTERM sent to its process group";
  if (r.killed)
    how += cancel::count() >= 2 ? ", SIGKILL at the second interrupt" : ", SIGKILL after 2 s";
  std::string why = cancel::reason();
  std::string tail = last_lines(r.err, kStderrTailLines);
  return shown + " was stopped: interrupted by " + (why.empty() ? "the operator" : why) + " (" +
         how + ")" + (tail.empty() ? "" : "; stderr:\n" + tail);
}

void set_field(lua_State* L, const char* key, const std::string& value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}
void set_field(lua_State* L, const char* key, double value) {
  lua_pushnumber(L, value);
  lua_setfield(L, -2, key);
}
void set_flag(lua_State* L, const char* key, bool value) {
  lua_pushboolean(L, value);
  lua_setfield(L, -2, key);
}

void push_result(lua_State* L, const CommandResult& r, bool dry_run) {
  lua_createtable(L, 0, 9);  // [result]
  set_field(L, "code", r.exit_code);
  set_field(L, "signal", r.term_signal);
  set_flag(L, "timed_out", r.timed_out);
  set_field(L, "stdout", r.out);
  set_field(L, "stderr", r.err);
  set_flag(L, "stdout_truncated", r.out_truncated);
  set_flag(L, "stderr_truncated", r.err_truncated);
  set_field(L, "duration_ms", r.duration_ms);
  set_flag(L, "dry_run", dry_run);
}

// Everything shell.run was asked to do, read from its table before anything runs.
struct RunSpec {
  Command cmd;
  bool check = true, read_only = false;
  Redactor redactor;
  std::string shown;  // the argv for display, redacted
  nlohmann::json detail;  // for the run record: argv (redacted) and cwd
};

RunSpec read_spec(lua_State* L, const Services& s) {
  RunSpec spec;
  spec.check = opt_bool_field(L, 1, "check", true);
  spec.read_only = opt_bool_field(L, 1, "read_only", false);
  const bool use_shell = opt_bool_field(L, 1, "shell", false);
  spec.cmd.timeout_s = opt_number_field(L, 1, "timeout", 0);
  const double limit = opt_number_field(L, 1, "capture_limit", spec.cmd.capture_limit);
  if (spec.cmd.timeout_s < 0 || limit < 0)
    throw ConfigError("shell.run: timeout and capture_limit must not be negative");
  spec.cmd.capture_limit = static_cast<std::size_t>(limit);
  spec.cmd.argv = read_args(L, 1);
  if (use_shell && spec.cmd.argv.size() != 1)
    throw ConfigError("shell.run: with shell = true, give exactly one command string");
  if (use_shell) spec.cmd.argv = {"/bin/sh", "-c", spec.cmd.argv[0]};
  spec.cmd.env = read_env(L, 1);
  // The database's password never reaches a command through the inherited environment.
  if (s.redactor) spec.cmd.withheld_values = s.redactor->credentials();
  spec.cmd.cwd = opt_string_field(L, 1, "cwd", "");
  spec.cmd.stdin_data = opt_string_field(L, 1, "stdin", "");
  spec.redactor = read_redactor(L, 1, s);
  spec.shown = spec.redactor.apply(format_argv(spec.cmd.argv));
  spec.detail = {{"argv", redacted_argv(spec.cmd.argv, spec.redactor)}, {"cwd", spec.cmd.cwd}};
  return spec;
}

int dry_run(lua_State* L, Services& s, RunSpec& spec) {
  const std::string& cwd = spec.cmd.cwd;
  if (s.say) s.say("would run: " + spec.shown + (cwd.empty() ? "" : " (in " + cwd + ")"));
  spec.detail["dry_run"] = true;
  if (s.record) s.record("shell", spec.detail);
  push_result(L, CommandResult{}, true);
  return 1;
}

int live_run(lua_State* L, Services& s, RunSpec& spec) {
  CommandResult r;
  try {
    r = run_command(spec.cmd);
  } catch (const AbortError& e) {  // interrupted before it started: nothing ran
    spec.detail["error"] = spec.redactor.apply(e.what());
    if (s.record) s.record("shell", spec.detail);
    throw AbortError(spec.redactor.apply(e.what()));
  } catch (const Error& e) {
    spec.detail["error"] = spec.redactor.apply(e.what());
    if (s.record) s.record("shell", spec.detail);
    throw StepError(spec.redactor.apply(e.what()));
  }
  spec.detail.update({{"code", r.exit_code}, {"signal", r.term_signal},
                      {"timed_out", r.timed_out}, {"duration_ms", r.duration_ms}});
  if (r.cancelled) spec.detail["cancelled"] = true;
  if (s.record) s.record("shell", spec.detail);
  // Stopped by ^C / SIGTERM / SIGHUP: the run is ending, whatever check says.
  if (r.cancelled) throw AbortError(spec.redactor.apply(stopped_message(spec.shown, r)));
  if (spec.check && (r.exit_code != 0 || r.timed_out))
    throw StepError(spec.redactor.apply(failure_message(spec.shown, r, spec.cmd.timeout_s)));
  push_result(L, r, false);
  return 1;
}

// shell.run{ "prog", "arg", ..., timeout=, env=, cwd=, stdin=, capture_limit=, secrets=,
//            check = true, read_only = false, shell = false } -> result table
int run(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  Services& s = services(L);
  require_effects(s.mode, "shell.run");  // inert (--describe/--list): not even read_only commands
  RunSpec spec = read_spec(L, s);
  if (!changes_allowed(s.mode) && !spec.read_only) return dry_run(L, s, spec);
  return live_run(L, s, spec);
}

// shell.which(name) -> full path, or nil when not found
int which(lua_State* L) {
  luaL_checkstring(L, 1);
  auto path = find_program(check_string(L, 1));
  if (path) lua_pushlstring(L, path->data(), path->size());
  else lua_pushnil(L);
  return 1;
}

}  // namespace

int open_shell(lua_State* L) {
  lua_createtable(L, 0, 2);  // [shell]
  set_functions(L, kFunctions);
  return 1;
}

namespace {

const luaL_Reg kFunctions[] = {
    {"run", guarded<run>},
    {"which", guarded<which>},
    {nullptr, nullptr},
};

}  // namespace

}  // namespace rb::lua
