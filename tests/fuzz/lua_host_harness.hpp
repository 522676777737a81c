#pragma once
// Shared by fuzz_environments and fuzz_params: runs a fixed runbook through the real Lua host
// in dry-run, as `runbook RUNBOOK --env ... --set ...` does, minus the process-wide parts of
// run_runbook (signal handlers, the ^C canceller thread) and minus output (spdlog is off).
//  - bindings/host.cpp is compiled into the target (#include below), so its LuaState (the
//    sandbox, the preloaded modules, the embedded runbook.lua), prepare(), load_runbook() and
//    push_options() are the ones the binary uses, unchanged.
//  - Only `runbook.host` (bindings/lua_host.cpp) is the real module; db, migrations, shell, http,
//    sql, files, json, catalog and hash raise "not available in the fuzz target" on require: neither the
//    environments file nor parameter parsing needs them, and fuzzed Lua must have no effects.
//  - JIT off, a count hook bounds each input to ~20M VM instructions, and a line hook feeds
//    the Lua lines run (runbook.lua, the environments file, the runbook) to libFuzzer as extra
//    counters: the Lua code is not instrumented, so without them the fuzzer would be blind to it.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "bindings/host.cpp"  // NOLINT: the real host, see above

namespace rb::lua {
// The modules the two targets never need.
namespace {
int unavailable(lua_State* L) {
  return luaL_error(L, "module %s is not available in the fuzz target", luaL_optstring(L, 1, "?"));
}
}  // namespace
int open_db(lua_State* L) { return unavailable(L); }
int open_migrations(lua_State* L) { return unavailable(L); }
int open_hash(lua_State* L) { return unavailable(L); }
int open_shell(lua_State* L) { return unavailable(L); }
int open_http(lua_State* L) { return unavailable(L); }
int open_sql(lua_State* L) { return unavailable(L); }
int open_files(lua_State* L) { return unavailable(L); }
int open_json(lua_State* L) { return unavailable(L); }
int open_catalog(lua_State* L) { return unavailable(L); }
}  // namespace rb::lua

namespace fuzz_host {

// Lua line coverage for libFuzzer (an edge: previous line -> line, hashed with the chunk).
__attribute__((used, section("__libfuzzer_extra_counters"))) std::uint8_t g_lua_counters[16384];
std::uint32_t g_prev_line = 0;
long g_budget_left = 0;
bool g_budget_exceeded = false;

void hook(lua_State* L, lua_Debug* ar) {
  if (ar->event == LUA_HOOKCOUNT) {
    if (--g_budget_left < 0) {
      g_budget_exceeded = true;
      luaL_error(L, "fuzz: instruction budget exceeded");
    }
    return;
  }
  if (ar->event != LUA_HOOKLINE || !lua_getinfo(L, "S", ar) || !ar->source) return;
  const std::size_t n = std::strlen(ar->source);
  const std::uint32_t chunk = static_cast<std::uint32_t>(n) * 131u + static_cast<unsigned char>(n ? ar->source[n - 1] : 0) +
                              static_cast<unsigned char>(n > 5 ? ar->source[n - 5] : 0) * 7u;
  const std::uint32_t line = static_cast<std::uint32_t>(ar->currentline) ^ (chunk << 12);
  const std::uint32_t edge = (g_prev_line * 2654435761u) ^ line;
  g_prev_line = line;
  std::uint8_t& c = g_lua_counters[edge % sizeof g_lua_counters];
  if (c < 255) ++c;
}

std::string g_dir;  // scratch directory: the runbook and the environments file

[[noreturn]] inline void fail(const char* target, const std::string& what, const std::string& input) {
  std::fprintf(stderr, "%s: %s\n  input=<<<%s>>>\n", target, what.c_str(), input.c_str());
  std::abort();
}

// Once per process: a scratch directory, no output, stdin from /dev/null (a fuzzed io.read()
// must not wait for a terminal), the database variable the environments name.
inline void init(const char* target) {
  std::string tmpl = std::string("/tmp/") + target + ".XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  g_dir = tmpl;
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(g_dir, ec);
  });
  if (!std::freopen("/dev/null", "r", stdin)) std::perror("freopen /dev/null");
  spdlog::set_level(spdlog::level::off);
  ::setenv("FUZZ_DATABASE_URL", "postgres://app:s3cret-pw@db.example:5432/app", 1);
  ::unsetenv("DATABASE_URL");
}

inline std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = g_dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

struct Outcome {
  bool ok = false;             // the run returned (code set); else `kind`/`message` of its error
  int code = 0;
  std::string kind, message;   // of the error, or of the failed step when code != 0
  bool budget_exceeded = false;
  std::string record;          // the run record, redacted as --json prints it ("" when none)
  std::string stash;           // the global FUZZ_STASH after the run, when a string
};

// Runs `options` (its runbook a file of g_dir) as the host does, in dry-run; a C++ exception
// escaping the host or a non-string error object aborts with the input.
inline Outcome run(const char* target, rb::lua::HostOptions options, const std::string& input) {
  using namespace rb::lua;
  Outcome out;
  options.mode = rb::RunMode::dry_run;
  options.journal_dir = "";  // the record stays in memory
  try {
    Prepared p;
    prepare(p, options);
    lua_State* L = p.lua->get();
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);  // hooks see every line
    g_budget_left = 20000;
    g_budget_exceeded = false;
    g_prev_line = 0;
    lua_sethook(L, hook, LUA_MASKLINE | LUA_MASKCOUNT, 1000);
    load_runbook(L, p.file);   // [rb]
    push_core_function(L, "run");
    lua_insert(L, -2);         // [run, rb]
    push_options(L, options);  // [run, rb, opts]
    lua_pushcfunction(L, traceback);
    lua_insert(L, -4);         // [tb, run, rb, opts]
    if (lua_pcall(L, 2, 2, -4) != 0) {
      if (!lua_istable(L, -1) && !lua_isstring(L, -1))
        fail(target, std::string("a Lua error object that is not a string: ") + luaL_typename(L, -1), input);
      out.kind = error_kind(L, -1);
      out.message = error_text(L, -1);
      if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "message");
        if (!lua_isstring(L, -1)) fail(target, "a typed Lua error whose message is not a string", input);
        lua_pop(L, 1);
      }
    } else {
      out.ok = true;
      out.code = static_cast<int>(lua_tointeger(L, -2));
      if (out.code != 0 && lua_istable(L, -1)) {
        out.kind = error_kind(L, -1);
        out.message = error_text(L, -1);
      }
    }
    // The host's placeholder for a non-string error object; input that contains the same text
    // (a --set value quoted back in a message) is not a finding.
    const std::string placeholder = "(error object is not a string)";
    if (out.message.find(placeholder) != std::string::npos && input.find(placeholder) == std::string::npos)
      fail(target, "a Lua error object that is not a string: " + out.message, input);
    lua_sethook(L, nullptr, 0, 0);
    lua_getglobal(L, "FUZZ_STASH");
    std::size_t stash_len = 0;
    if (lua_isstring(L, -1)) out.stash.assign(lua_tolstring(L, -1, &stash_len), stash_len);
    lua_settop(L, 0);
    // Bytes that are not UTF-8 (--set ticket=$'\xff') are written as U+FFFD, as the real
    // run's record writer does.
    if (p.state.journal)
      out.record = p.state.redactor.apply(
          p.state.journal->record().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } catch (const rb::Error& e) {
    // The host's own refusals (a runbook that does not load): the fixed runbooks always load.
    fail(target, std::string("host refused the fixed runbook: ") + e.what(), input);
  } catch (const std::exception& e) {
    fail(target, std::string("a C++ exception escaped the host: ") + e.what(), input);
  }
  out.budget_exceeded = g_budget_exceeded;
  return out;
}

}  // namespace fuzz_host
