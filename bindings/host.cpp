#include "bindings/host.hpp"

#include <pwd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

#include <spdlog/spdlog.h>

#include "bindings/embedded_lua.hpp"
#include "bindings/host_state.hpp"
#include "bindings/modules.hpp"
#include "engine/cancel.hpp"
#include "engine/db.hpp"
#include "engine/errors.hpp"
#include "engine/events.hpp"
#include "engine/utf8.hpp"

namespace fs = std::filesystem;

namespace rb::lua {

namespace {

const char kHostStateKey = 0;

// Only records the request: the run unwinds through its safe points and ends with a final
// status. A third signal ends the process at once (a run that does not react).
void on_stop_signal(int signal_number) {
  rb::cancel::request(signal_number);
  if (rb::cancel::count() >= 3) {
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
  }
}

// Runbooks must not bypass the primitives: no processes, no file writes, no native code.
const char* kSandbox = R"LUA(
local blocked = function(name, instead)
  return function() error(name .. " is not available to runbooks (it would bypass dry-run); use " .. instead, 2) end
end
os.execute = blocked("os.execute", "shell.run")
os.exit = blocked("os.exit", "runbook.fail or runbook.abort")
os.remove = blocked("os.remove", "the shell primitive")
os.rename = blocked("os.rename", "the shell primitive")
os.tmpname = blocked("os.tmpname", "the shell primitive")
io.popen = blocked("io.popen", "shell.run")
io.output = blocked("io.output", "files.write")
local open = io.open
io.open = function(path, mode)
  mode = mode or "r"
  if not mode:match("^r[b]?$") then
    error("io.open(" .. tostring(path) .. ", \"" .. mode .. "\"): writing files is not available to runbooks (it would bypass dry-run); use files.write", 2)
  end
  return open(path, mode)
end
-- A stop (^C, SIGTERM, SIGHUP, a time limit: the count hook raises a table with stopped = true)
-- passes through every pcall and xpcall: a step cannot swallow it and loop on.
local raw_pcall, raw_xpcall = pcall, xpcall
local function is_stop(e) return type(e) == "table" and rawget(e, "stopped") == true end
local function pass_stop(ok, ...)
  if not ok and is_stop((...)) then error((...), 0) end
  return ok, ...
end
pcall = function(f, ...) return pass_stop(raw_pcall(f, ...)) end
xpcall = function(f, handler, ...)
  return pass_stop(raw_xpcall(f, function(e)
    if is_stop(e) then return e end
    return handler(e)
  end, ...))
end
package.loadlib = nil
package.cpath = ""
package.loaded.ffi = nil
package.preload.ffi = nil
-- Keep only the preload and Lua-file searchers: no C modules.
for i = #package.loaders, 3, -1 do package.loaders[i] = nil end
-- print goes where all operator output goes (stderr, secrets masked), never into --json.
local say = require("runbook.host").say
print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  say("info", table.concat(parts, "\t"))
end
-- So do io.write, io.stdout:write and io.stderr:write: each call is one line of operator
-- output (one trailing newline dropped), masked like print. Other files keep their write.
local stdout, stderr = io.stdout, io.stderr
local file_methods = getmetatable(stdout)
local file_write = file_methods.write
local function say_written(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    local t = type(v)
    if t ~= "string" and t ~= "number" then
      error("bad argument #" .. i .. " to 'write' (string expected, got " .. t .. ")", 3)
    end
    parts[i] = tostring(v)
  end
  local text = table.concat(parts)
  if text ~= "" then say("info", (text:gsub("\n$", ""))) end
end
io.write = function(...)
  say_written(...)
  return stdout
end
file_methods.write = function(f, ...)
  if f ~= stdout and f ~= stderr then return file_write(f, ...) end
  say_written(...)
  return f
end
local traceback, getinfo = debug.traceback, debug.getinfo
debug = { traceback = traceback, getinfo = getinfo }
)LUA";

int traceback(lua_State* L) {
  if (lua_istable(L, 1)) return 1;  // typed errors keep their message and kind
  const char* msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

// A Lua error value as one message.
std::string error_text(lua_State* L, int index) {
  if (lua_istable(L, index)) {
    lua_getfield(L, index, "message");
    std::string m = lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error)";
    lua_pop(L, 1);
    return m;
  }
  const char* m = lua_tostring(L, index);
  return m ? m : "(error object is not a string)";
}

std::string error_kind(lua_State* L, int index) {
  if (!lua_istable(L, index)) return "failed";
  lua_getfield(L, index, "kind");
  std::string k = lua_tostring(L, -1) ? lua_tostring(L, -1) : "failed";
  lua_pop(L, 1);
  return k;
}

int exit_code_of(const std::string& kind) { return static_cast<int>(exit_code_for(kind)); }

void preload(lua_State* L, const char* name, lua_CFunction opener) {
  lua_getglobal(L, "package");         // [package]
  lua_getfield(L, -1, "preload");      // [package, preload]
  lua_pushcfunction(L, opener);        // [package, preload, opener]
  lua_setfield(L, -2, name);           // [package, preload]
  lua_pop(L, 2);                       // []
}

// Embedded Lua modules load through package.preload with chunk names like "@runbook.lua".
int load_embedded(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  for (std::size_t i = 0; i < kEmbeddedLuaCount; ++i) {
    const auto& c = kEmbeddedLua[i];
    if (std::string(c.module) != name) continue;
    if (luaL_loadbuffer(L, c.source.data(), c.source.size(), c.chunk_name) != 0) return lua_error(L);
    lua_call(L, 0, 1);
    return 1;
  }
  return luaL_error(L, "no embedded module %s", name);
}

// The first ^C (or SIGTERM, SIGHUP, a timeout) must stop a step that loops in Lua. Debug
// hooks never run inside LuaJIT's compiled traces, so runbook code runs interpreted (it is
// glue: the work is in the engine) with a count hook that raises "aborted" once per request.
constexpr int kHookInstructions = 1000;

void stop_hook(lua_State* L, lua_Debug*) {
  if (!rb::cancel::requested()) return;
  HostState& st = host_state(L);
  const int count = rb::cancel::count();
  const auto now = std::chrono::steady_clock::now();
  if (st.stoppable_depth <= 0 || st.in_error_handler > 0) return;
  // Once per request, then again every half second while the code goes on regardless (a
  // pcall that swallowed the error); never in the traceback handler of the error just raised.
  if (st.stop_raised_for == count && now - st.stop_raised_at < std::chrono::milliseconds(500)) return;
  st.stop_raised_for = count;
  st.stop_raised_at = now;
  const std::string message = rb::cancel::timed_out() ? rb::cancel::reason()
                                                      : "interrupted by the operator (" + rb::cancel::reason() + ")";
  lua_createtable(L, 0, 3);
  lua_pushstring(L, "aborted");
  lua_setfield(L, -2, "kind");
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "stopped");
  lua_pushstring(L, message.c_str());
  lua_setfield(L, -2, "message");
  lua_error(L);
}

class LuaState {
 public:
  explicit LuaState(HostState& state) : L_(luaL_newstate()) {
    if (!L_) throw StepError("cannot create a Lua state (out of memory)");
    luaL_openlibs(L_);
    set_host_state(L_, &state);
    set_services(L_, &state.services);
    preload(L_, "runbook.host", open_host);
    preload(L_, "db", open_db);
    preload(L_, "migrations", open_migrations);
    preload(L_, "hash", open_hash);
    preload(L_, "shell", open_shell);
    preload(L_, "http", open_http);
    preload(L_, "sql", open_sql);
    preload(L_, "files", open_files);
    preload(L_, "json", open_json);
    preload(L_, "catalog", open_catalog);
    for (std::size_t i = 0; i < kEmbeddedLuaCount; ++i) preload(L_, kEmbeddedLua[i].module, load_embedded);
    if (luaL_dostring(L_, kSandbox) != 0) throw StepError(std::string("sandbox: ") + lua_tostring(L_, -1));
    luaJIT_setmode(L_, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_sethook(L_, stop_hook, LUA_MASKCOUNT, kHookInstructions);
  }
  ~LuaState() { lua_close(L_); }
  LuaState(const LuaState&) = delete;
  LuaState& operator=(const LuaState&) = delete;
  lua_State* get() const { return L_; }

  void set_path(const std::string& runbook_file, const std::vector<std::string>& search_path) {
    std::string path = fs::path(runbook_file).parent_path().string();
    std::string lua_path = (path.empty() ? std::string(".") : path) + "/?.lua;";
    for (const auto& d : search_path) lua_path += d + "/?.lua;" + d + "/?/init.lua;";
    lua_getglobal(L_, "package");
    lua_pushstring(L_, lua_path.c_str());
    lua_setfield(L_, -2, "path");
    lua_pop(L_, 1);
  }

 private:
  lua_State* L_;
};

// Loads the runbook file and leaves the runbook object on the stack. Throws ConfigError
// with file:line for syntax and load errors.
void load_runbook(lua_State* L, const std::string& file) {
  // Syntax errors first, with their file:line, before running anything.
  if (luaL_loadfile(L, file.c_str()) != 0) {
    std::string msg = error_text(L, -1);
    lua_pop(L, 1);
    throw ConfigError(msg);
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, traceback);  // [tb]
  const int tb = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, "runbook");
  if (lua_pcall(L, 1, 1, tb) != 0) {  // [tb, core]
    std::string msg = error_text(L, -1);
    lua_settop(L, tb - 1);
    throw StepError("runbook core: " + msg);
  }
  lua_getfield(L, -1, "load_file");  // [tb, core, load_file]
  lua_pushstring(L, file.c_str());
  if (lua_pcall(L, 1, 1, tb) != 0) {  // [tb, core, result|err]
    std::string msg = error_text(L, -1);
    const bool stopped = error_kind(L, -1) == "aborted";  // ^C while the file's top level ran
    lua_settop(L, tb - 1);
    if (stopped) throw AbortError("loading " + file + ": " + msg);
    throw ConfigError("loading " + file + ": " + msg);
  }
  lua_getfield(L, -2, "is_runbook");  // [tb, core, result, is_runbook]
  lua_pushvalue(L, -2);
  lua_call(L, 1, 1);                  // [tb, core, result, bool]
  const bool ok = lua_toboolean(L, -1);
  lua_pop(L, 1);                      // [tb, core, result]
  lua_replace(L, tb);                 // [result, core]
  lua_pop(L, 1);                      // [result]
  if (!ok)
    throw ConfigError(file + " did not return a runbook (end it with `return runbook.define{...}` or a composition such as `return apply:with{...}`)");
}

}  // namespace

HostState& host_state(lua_State* L) {
  lua_pushlightuserdata(L, const_cast<char*>(&kHostStateKey));
  lua_rawget(L, LUA_REGISTRYINDEX);
  auto* s = static_cast<HostState*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (!s) luaL_error(L, "runbook host state is not initialised");
  return *s;
}

void set_host_state(lua_State* L, HostState* state) {
  lua_pushlightuserdata(L, const_cast<char*>(&kHostStateKey));
  lua_pushlightuserdata(L, state);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

namespace {
// Colour by meaning, only when main decided colour is on (--color, NO_COLOR, a terminal):
// warnings yellow, errors red, step headers bold, and in any line the result words PASS
// (green), WARN (yellow) and FAIL (red). Everything else stays the terminal's own colour.
constexpr const char* kReset = "\033[0m";
constexpr const char* kBold = "\033[1m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kGreen = "\033[32m";
constexpr const char* kYellow = "\033[33m";

std::string painted(const char* code, const std::string& text) { return code + text + kReset; }

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string painted_results(const std::string& line) {
  std::string out;
  out.reserve(line.size());
  for (std::size_t i = 0; i < line.size();) {
    const char* code = nullptr;
    if (line.compare(i, 4, "PASS") == 0) code = kGreen;
    else if (line.compare(i, 4, "WARN") == 0) code = kYellow;
    else if (line.compare(i, 4, "FAIL") == 0) code = kRed;
    if (code && (i == 0 || !word_char(line[i - 1])) && (i + 4 == line.size() || !word_char(line[i + 4]))) {
      out += painted(code, line.substr(i, 4));
      i += 4;
    } else {
      out += line[i++];
    }
  }
  return out;
}
}  // namespace

namespace {
constexpr const char* kClearLine = "\r\033[K";

std::size_t terminal_width() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10) return ws.ws_col - 1;
  return 100;
}
}  // namespace

void show_progress(HostState& state, const std::string& line) {
  std::lock_guard<std::mutex> guard(state.output_mutex);
  std::string text = state.redactor.apply(line);
  utf8::cut(text, terminal_width());
  if (text.empty() && state.progress_line.empty()) return;
  std::fputs(kClearLine, stderr);
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
  state.progress_line = text;
}

void say(HostState& state, const std::string& level, const std::string& message) {
  std::lock_guard<std::mutex> guard(state.output_mutex);
  struct ProgressBelow {  // the line goes above the progress line, which is drawn again
    HostState& st;
    explicit ProgressBelow(HostState& s) : st(s) {
      if (!st.progress_line.empty()) std::fputs(kClearLine, stderr);
    }
    ~ProgressBelow() {
      if (st.progress_line.empty()) return;
      std::fputs(st.progress_line.c_str(), stderr);
      std::fflush(stderr);
    }
  } below(state);
  const std::string text = state.redactor.apply(message);
  const bool color = state.options.color;
  if (level == "debug") spdlog::debug("{}", text);
  else if (level == "warn") spdlog::warn("{}", color ? painted(kYellow, "warning: " + text) : "warning: " + text);
  else if (level == "error") spdlog::error("{}", color ? painted(kRed, "error: " + text) : "error: " + text);
  else if (level == "step") spdlog::info("{}", color ? painted(kBold, "==> " + text) : "==> " + text);
  else spdlog::info("{}", color ? painted_results(text) : text);
}

std::string operator_name() {
  if (const char* u = std::getenv("RUNBOOK_OPERATOR"); u && *u) return u;
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (const passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return "unknown";
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::vector<std::string> default_search_path(const std::string& argv0) {
  std::vector<std::string> dirs{"."};
  if (const char* p = std::getenv("RUNBOOK_PATH"); p && *p) {
    std::string s = p;
    std::size_t start = 0;
    while (start <= s.size()) {
      auto colon = s.find(':', start);
      std::string d = s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!d.empty()) dirs.push_back(d);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) exe = fs::absolute(argv0, ec);
  const fs::path relocatable = exe.parent_path().parent_path() / "share" / "runbook" / "runbooks";
  if (fs::is_directory(relocatable, ec)) dirs.push_back(relocatable.string());
  const std::string installed = RUNBOOK_DATADIR;
  if (installed != relocatable.string()) dirs.push_back(installed);
  return dirs;
}

std::string resolve_runbook(const std::string& name, const std::vector<std::string>& search_path) {
  std::error_code ec;
  std::vector<std::string> tried;
  if (name.find('/') != std::string::npos) {
    if (fs::is_regular_file(name, ec)) return name;
    if (fs::path(name).is_absolute()) throw ConfigError("runbook " + name + " not found");
    tried.push_back(".");
  }
  for (const auto& dir : search_path) {
    if (dir == "." && !tried.empty()) continue;  // a relative path: already tried as given
    for (const std::string& candidate : {name, name + ".lua"}) {
      fs::path p = fs::path(dir) / candidate;
      if (fs::is_regular_file(p, ec)) return dir == "." ? candidate : p.string();
    }
    tried.push_back(dir);
  }
  std::string msg = "runbook " + name + " not found; searched:";
  for (const auto& t : tried) msg += "\n  " + t;
  throw ConfigError(msg + "\n(add a directory with RUNBOOK_PATH, or give a path)");
}

void print_event(HostState& state, const nlohmann::json& event) {
  std::cout << events::line(event, &state.redactor) << '\n' << std::flush;
  if (event.value("event", "") == "end") state.end_event_sent = true;
}

namespace {

struct Prepared {
  HostState state;
  std::unique_ptr<LuaState> lua;
  std::string file;
};

void prepare(Prepared& p, const HostOptions& options) {
  p.state.options = options;
  p.state.run_id = new_run_id();
  p.state.services.mode = options.mode;
  p.state.services.redactor = &p.state.redactor;
  p.state.services.run_id = p.state.run_id;
  p.state.services.operator_name = operator_name() + "@" + host_name();
  HostState* st = &p.state;
  p.state.services.say = [st](const std::string& m) { say(*st, "info", m); };
  p.state.services.warn = [st](const std::string& m) { say(*st, "warn", m); };
  if (options.live_progress) p.state.services.progress = [st](const std::string& line) { show_progress(*st, line); };
  p.state.services.record = [st](const std::string& kind, const nlohmann::json& detail) {
    if (st->journal) st->journal->event(kind, detail);
  };
  p.state.services.interrupted = [] { return rb::cancel::requested(); };
  if (const char* pw = std::getenv("PGPASSWORD")) p.state.redactor.add_credential(pw);
  p.file = resolve_runbook(options.runbook, options.search_path);
  p.lua = std::make_unique<LuaState>(p.state);
  p.lua->set_path(p.file, options.search_path);
}

// Pushes require("runbook")[fn].
void push_core_function(lua_State* L, const char* fn) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "runbook");
  lua_call(L, 1, 1);        // [core]
  lua_getfield(L, -1, fn);  // [core, fn]
  lua_remove(L, -2);        // [fn]
}

void push_options(lua_State* L, const HostOptions& o) {
  lua_newtable(L);
  lua_pushstring(L, to_string(o.mode));
  lua_setfield(L, -2, "mode");
  lua_pushstring(L, o.env.c_str());
  lua_setfield(L, -2, "env");
  lua_pushstring(L, o.environments_file.c_str());
  lua_setfield(L, -2, "environments");
  lua_pushstring(L, o.from.c_str());
  lua_setfield(L, -2, "from");
  lua_pushstring(L, o.only.c_str());
  lua_setfield(L, -2, "only");
  lua_pushstring(L, o.plan_in.c_str());
  lua_setfield(L, -2, "plan_in");
  lua_pushstring(L, o.plan_out.c_str());
  lua_setfield(L, -2, "plan_out");
  lua_pushstring(L, o.timeout.c_str());
  lua_setfield(L, -2, "timeout");
  lua_pushstring(L, o.override_rehearsal.c_str());
  lua_setfield(L, -2, "override_rehearsal");
  lua_newtable(L);
  for (std::size_t i = 0; i < o.skip.size(); ++i) {
    lua_pushstring(L, o.skip[i].c_str());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "skip");
  lua_newtable(L);
  for (const auto& [k, v] : o.sets) {
    lua_pushstring(L, v.c_str());
    lua_setfield(L, -2, k.c_str());
  }
  lua_setfield(L, -2, "sets");
}

}  // namespace

// --describe and --list load runbook files inert: their top-level code (and the modules it
// requires) runs, but every effectful primitive refuses (engine/mode.hpp require_effects).
HostOptions inert(const HostOptions& options) {
  HostOptions o = options;
  o.mode = RunMode::inert;
  return o;
}

int describe_runbook(const HostOptions& options) {
  Prepared p;
  prepare(p, inert(options));
  lua_State* L = p.lua->get();
  load_runbook(L, p.file);        // [rb]
  push_core_function(L, "describe");
  lua_insert(L, -2);              // [describe, rb]
  push_options(L, options);       // [describe, rb, opts]: --set and --env decide the chain shown
  lua_pushcfunction(L, traceback);
  lua_insert(L, -4);              // [tb, describe, rb, opts]
  if (lua_pcall(L, 2, 1, -4) != 0) throw ConfigError(error_text(L, -1));
  std::cout << lua_tostring(L, -1) << "\n";
  return 0;
}

int list_runbooks(const HostOptions& options) {
  std::set<std::string> seen;
  for (const auto& dir : options.search_path) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file() && e.path().extension() == ".lua") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const std::string name = f.stem().string();
      if (!seen.insert(name).second) continue;
      std::string description;
      try {
        HostOptions o = inert(options);
        o.runbook = f.string();
        Prepared p;
        prepare(p, o);
        lua_State* L = p.lua->get();
        load_runbook(L, p.file);
        lua_getfield(L, -1, "description");
        description = lua_tostring(L, -1) ? lua_tostring(L, -1) : "";
      } catch (const std::exception& e) {
        // A file whose loading needs an effect cannot be described: say so, never run it.
        std::string why = e.what();
        if (why.find(kInertRefusal) != std::string::npos) {
          const std::string prefix = "loading " + f.string() + ": ";
          if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
          spdlog::warn("warning: {} is not listed: {}", f.string(), why);
        }
        continue;  // not a runbook (e.g. an environments file)
      }
      std::cout << name << "\t" << f.string() << "\t" << description << "\n";
    }
  }
  return 0;
}

namespace {
int run_prepared(Prepared& p, const HostOptions& options);
}  // namespace

int run_runbook(const HostOptions& options) {
  // No SA_RESTART: ^C at a confirmation prompt interrupts the read, which then refuses.
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // SIGTERM (CI cancel, pod eviction) and SIGHUP (dropped ssh) stop a run like ^C does.
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  // A closed stdout/stderr pipe (`| head`) must not kill a run halfway through a chain.
  std::signal(SIGPIPE, SIG_IGN);
  Prepared p;
  try {
    return run_prepared(p, options);
  } catch (const std::exception& e) {
    // Not one of the run's own errors (the runbook not found, not loadable): the stream still
    // ends with how the process ends (src/main.cpp maps the error to the exit code).
    if (options.json && !p.state.end_event_sent) {
      const auto* typed = dynamic_cast<const rb::Error*>(&e);
      const int code = static_cast<int>(typed ? typed->code() : ExitCode::step_failed);
      print_event(p.state, events::end_event(p.state.run_id, events::status_of_exit_code(code), code, e.what(), "", ""));
    }
    throw;
  }
}

namespace {

int run_prepared(Prepared& p, const HostOptions& options) {
  prepare(p, options);
  // ^C cancels the statement in flight (its transaction rolls back) instead of waiting for
  // it: the signal handler only sets a flag, this thread sends the cancel requests.
  // It polls every 50 ms; the end of the run wakes it at once (a quick runbook such as
  // status.lua must not wait out the poll before the process can exit).
  std::atomic<bool> done{false};
  std::mutex done_mutex;
  std::condition_variable done_changed;
  // Bookkeeping inside a cancel::Shield is waited for, never cancelled.
  std::thread canceller([&] {
    int handled = 0;
    std::unique_lock<std::mutex> lock(done_mutex);
    while (!done.load()) {
      rb::cancel::check_deadlines();  // a passed time limit becomes a request like ^C
      const int requests = rb::cancel::count();
      if (requests > handled && !rb::cancel::shielded()) {
        db::cancel_running_statements();
        handled = requests;
      }
      done_changed.wait_for(lock, std::chrono::milliseconds(50), [&] { return done.load(); });
    }
  });
  struct JoinOnExit {
    std::atomic<bool>& done;
    std::mutex& mutex;
    std::condition_variable& changed;
    std::thread& thread;
    ~JoinOnExit() {
      {
        std::lock_guard<std::mutex> guard(mutex);
        done = true;
      }
      changed.notify_all();
      thread.join();
    }
  } join_on_exit{done, done_mutex, done_changed, canceller};
  lua_State* L = p.lua->get();
  {
    StoppableRegion loading(p.state);  // a runbook that loops at load time stops at ^C too
    load_runbook(L, p.file);           // [rb]
  }
  push_core_function(L, "run");
  lua_insert(L, -2);             // [run, rb]
  push_options(L, options);      // [run, rb, opts]
  lua_pushcfunction(L, traceback);
  lua_insert(L, -4);             // [tb, run, rb, opts]
  int code = 0;
  std::string last_error;
  if (lua_pcall(L, 2, 2, -4) != 0) {
    // An error outside any step: bad parameters, environments, the run record itself.
    const std::string kind = error_kind(L, -1);
    const std::string msg = error_text(L, -1);
    code = exit_code_of(kind);
    last_error = msg;
    if (p.state.journal) p.state.journal->finish(kind == "aborted" ? "aborted" : "failed", code, msg);
    say(p.state, "error", msg);
  } else {
    code = static_cast<int>(lua_tointeger(L, -2));
    if (code != 0 && lua_istable(L, -1)) {  // a failure; an outcome (ctx:conclude) has no failure table
      lua_getfield(L, -1, "message");
      std::string msg = lua_tostring(L, -1) ? lua_tostring(L, -1) : "failed";
      last_error = msg;
      lua_pop(L, 1);
      lua_getfield(L, -1, "step");
      std::string step = lua_tostring(L, -1) ? lua_tostring(L, -1) : "";
      lua_pop(L, 1);
      lua_getfield(L, -1, "typed");
      const bool typed = lua_toboolean(L, -1);
      lua_pop(L, 1);
      lua_getfield(L, -1, "traceback");
      std::string tb = lua_tostring(L, -1) ? lua_tostring(L, -1) : "";
      lua_pop(L, 1);
      lua_getfield(L, -1, "where");
      std::string where = lua_tostring(L, -1) ? lua_tostring(L, -1) : "";
      lua_pop(L, 1);
      say(p.state, "error", (step.empty() ? "" : "step " + step + ": ") + msg);
      if (!where.empty() && options.verbosity > 0) say(p.state, "error", "raised at " + where);
      // Plain Lua errors are bugs in a runbook: show where they came from.
      if (!tb.empty() && (!typed || options.verbosity > 0)) say(p.state, "error", tb.substr(tb.find_first_not_of('\n')));
    }
  }
  if (p.state.journal) {
    const auto& rec = p.state.journal->record();
    if (!p.state.journal->json_path().empty())
      say(p.state, "info", "run record: " + p.state.journal->json_path() + " and " + p.state.journal->markdown_path() +
                               (fs::exists(p.state.journal->html_path()) ? "; report: " + p.state.journal->html_path() : ""));
    if (!options.json && options.verbosity >= 0 && code == 0 && !rec["migrations"].empty())
      std::cerr << p.state.redactor.apply(p.state.journal->markdown());
  }
  // An error before the run record was started (bad parameters, environments) ends the
  // stream too.
  if (options.json && !p.state.end_event_sent) print_event(p.state, events::end_event(p.state.run_id, events::status_of_exit_code(code), code, last_error, "", ""));
  lua_settop(L, 0);
  return code;
}

}  // namespace

}  // namespace rb::lua
