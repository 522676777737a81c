// libFuzzer target for runbook parameters: `--set name=value` as src/main.cpp splits it (at the
// first '=', an empty name refused), push_options (bindings/host.cpp) and resolve_params /
// parse_value (bindings/lua/runbook.lua), through the real Lua host (lua_host_harness.hpp), in
// dry-run against a fixed runbook with one parameter of every type, a required one and a secret.
// Input: one `name=value` per line; a first line "@env" adds `--env staging` (a fixed
// environments file that provides max_connections and long_transaction).
// The run must succeed or fail with a typed config error whose message is a string. On success
// the fixed step checks every value against its declared type (integer integral and >= min,
// duration shaped like 5s, enum among its choices, booleans boolean, --set wins over the
// environment and the default) and the secret never reaches the run record. Anything else — a
// plain Lua error, a non-string error object, an escaping C++ exception, a sanitizer report —
// is a bug (abort).
// Build and run: scripts/fuzz fuzz_params [SECONDS].
#include <map>
#include <vector>

#include "tests/fuzz/lua_host_harness.hpp"

namespace {

const char* kTarget = "fuzz_params";

// The step stores "name=value;" of every parameter in FUZZ_STASH for the C++ checks.
const char* kRunbook = R"LUA(
local runbook = require "runbook"
local function check(ok, what) if not ok then error("FUZZ-INVARIANT: " .. what, 0) end end
return runbook.define {
  name = "fuzz-params",
  description = "fixed runbook of tests/fuzz/fuzz_params.cpp",
  params = {
    { name = "target", type = "string", default = "db" },
    { name = "workers", type = "integer", default = 4, min = 1 },
    { name = "ratio", type = "number" },
    { name = "force", type = "boolean", default = false },
    { name = "timeout", type = "duration", default = "5s" },
    { name = "mode", type = "enum", choices = { "fast", "safe" }, default = "safe" },
    { name = "token", type = "string", secret = true },
    { name = "ticket", type = "string", required = true, help = "change ticket" },
    { name = "max_connections", type = "integer", default = 10, min = 1 },
    { name = "long_transaction", type = "duration", default = "1min" },
  },
  steps = {
    runbook.step("check", "checks the parsed parameters", function(ctx)
      local p = ctx.params
      check(type(p.target) == "string", "target is a string")
      check(type(p.ticket) == "string", "ticket (required) is a string")
      for _, k in ipairs { "workers", "max_connections" } do
        check(type(p[k]) == "number" and p[k] == math.floor(p[k]) and p[k] >= 1, k .. " is an integer >= 1")
      end
      check(p.ratio == nil or (type(p.ratio) == "number"), "ratio is a number")
      check(type(p.force) == "boolean", "force is a boolean")
      for _, k in ipairs { "timeout", "long_transaction" } do
        check(p[k] == "0" or (type(p[k]) == "string" and p[k]:match("^%d+%a+$") ~= nil), k .. " is a duration")
        runbook.seconds(p[k])
      end
      check(p.mode == "fast" or p.mode == "safe", "mode is one of its choices")
      check(p.token == nil or type(p.token) == "string", "token is a string")
      local out = {}
      for _, k in ipairs { "target", "ticket", "token", "mode", "timeout", "long_transaction" } do
        if p[k] ~= nil then out[#out + 1] = k .. "=" .. p[k] end
      end
      out[#out + 1] = "force=" .. tostring(p.force)
      FUZZ_STASH = table.concat(out, "\0") .. "\0"
    end),
  },
}
)LUA";

const char* kEnvironments = R"LUA(
return { staging = { database_env = "FUZZ_DATABASE_URL", max_connections = 50, long_transaction = "2min" } }
)LUA";

std::string g_runbook, g_envfile;

// What the stash says of a parameter, or "\1" when it is not there.
std::string stashed(const std::string& stash, const std::string& name) {
  const std::string key = name + "=";
  for (std::size_t at = 0; at < stash.size();) {
    const auto end = stash.find('\0', at);
    const std::string entry = stash.substr(at, end - at);
    if (entry.rfind(key, 0) == 0) return entry.substr(key.size());
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "\1";
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_host::init(kTarget);
  g_runbook = fuzz_host::write_file("fuzz_params_runbook.lua", kRunbook);
  g_envfile = fuzz_host::write_file("environments.lua", kEnvironments);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return -1;
  const std::string input(reinterpret_cast<const char*>(data), size);
  rb::lua::HostOptions o;
  o.runbook = g_runbook;
  o.environments_file = g_envfile;
  std::size_t at = 0;
  if (input.rfind("@env\n", 0) == 0) {
    o.env = "staging";
    at = 5;
  }
  // src/main.cpp: each --set must look like key=value; split at the first '='.
  while (at <= input.size() && o.sets.size() < 32) {
    const auto nl = input.find('\n', at);
    const std::string s = input.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? input.size() + 1 : nl + 1;
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) continue;  // main.cpp refuses it before the host
    o.sets.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  const auto r = fuzz_host::run(kTarget, o, input);
  if (r.budget_exceeded) fuzz_host::fail(kTarget, "parameter parsing ran out of its instruction budget", input);
  if (!r.ok) {
    if (r.kind != "config")
      fuzz_host::fail(kTarget, "parameters failed the run with a " + r.kind + " error, not a config error: " + r.message,
                      input);
    return 0;
  }
  if (r.code != 0) fuzz_host::fail(kTarget, "the checking step failed: " + r.message, input);
  // push_options passes C strings: a key or value is what comes before a NUL byte; the last
  // --set of a name wins.
  std::map<std::string, std::string> given;
  for (const auto& [k, v] : o.sets) given[k.c_str()] = v.c_str();
  for (const char* k : {"target", "ticket", "token"}) {
    const auto g = given.find(k);
    if (g != given.end() && stashed(r.stash, k) != g->second)
      fuzz_host::fail(kTarget, std::string("--set ") + k + "=" + g->second + " did not win: got " + stashed(r.stash, k),
                      input);
  }
  if (given.count("long_transaction") == 0 && !o.env.empty() && stashed(r.stash, "long_transaction") != "2min")
    fuzz_host::fail(kTarget, "the environment's long_transaction did not win over the default", input);
  // The secret parameter is masked in the record as --json prints it (secrets of 4+ bytes;
  // JSON escapes would change the bytes, so only plain printable ones are checked).
  const auto token = given.find("token");
  if (token != given.end() && token->second.size() >= 4) {
    bool plain = true;
    for (unsigned char c : token->second) plain = plain && c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    if (plain && r.record.find(token->second) != std::string::npos)
      fuzz_host::fail(kTarget, "the secret parameter token is in the run record: " + r.record, input);
  }
  return 0;
}
