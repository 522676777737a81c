// libFuzzer target for the environments file: runbook.load_environment (bindings/lua/runbook.lua)
// as `runbook fuzz.lua --env staging --environments FILE --dry-run` reaches it, through the
// real Lua host (tests/fuzz/lua_host_harness.hpp: bindings/host.cpp, its sandbox, the embedded
// runbook.lua) against a small fixed runbook whose parameters the environment may provide.
// Input: arbitrary bytes taken as the text of the environments file (Lua, sandboxed; effects
// are unavailable). The run must either succeed or fail with a typed config error (exit code
// 2) whose message is a string. A plain Lua error out of runbook.lua (e.g. "bad argument #1 to
// 'ipairs'" for a mistyped key), a non-string error object, an escaping C++ exception, a
// sanitizer report or the environment's database password in the run record is a bug (abort).
// Build and run: scripts/fuzz fuzz_environments [SECONDS].
#include "tests/fuzz/lua_host_harness.hpp"

namespace {

const char* kTarget = "fuzz_environments";

const char* kRunbook = R"LUA(
local runbook = require "runbook"
return runbook.define {
  name = "fuzz-env",
  description = "fixed runbook of tests/fuzz/fuzz_environments.cpp",
  params = {
    { name = "backup_dir", type = "string", default = ".runbook/backups" },
    { name = "max_connections", type = "integer", default = 10, min = 1 },
    { name = "long_transaction", type = "duration", default = "5min" },
  },
  steps = {
    runbook.step("look", "reads the environment", function(ctx)
      assert(type(ctx.env) == "table" and ctx.env.name == "staging", "FUZZ-INVARIANT: env name")
      assert(type(ctx.env.database_url) == "string", "FUZZ-INVARIANT: database_url")
      assert(ctx:database_url() == ctx.env.database_url, "FUZZ-INVARIANT: ctx:database_url()")
      FUZZ_STASH = ctx.env.database_url
    end),
  },
}
)LUA";

std::string g_runbook, g_envfile;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_host::init(kTarget);
  g_runbook = fuzz_host::write_file("fuzz_env_runbook.lua", kRunbook);
  g_envfile = fuzz_host::g_dir + "/environments.lua";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return -1;
  const std::string input(reinterpret_cast<const char*>(data), size);
  fuzz_host::write_file("environments.lua", input);
  rb::lua::HostOptions o;
  o.runbook = g_runbook;
  o.env = "staging";
  o.environments_file = g_envfile;
  const auto r = fuzz_host::run(kTarget, o, input);
  if (r.budget_exceeded) return 0;  // an endless environments file: nothing to check
  if (!r.ok) {
    if (r.kind != "config")
      fuzz_host::fail(kTarget, "the environments file failed the run with a " + r.kind + " error, not a config error: " +
                          r.message, input);
    return 0;
  }
  if (r.code != 0) fuzz_host::fail(kTarget, "the fixed step failed: " + r.message, input);
  if (r.stash.empty()) fuzz_host::fail(kTarget, "the run succeeded without running its step", input);
  // The database URL's password is a secret: never in the record (as --json prints it).
  if (r.record.find("s3cret-pw") != std::string::npos)
    fuzz_host::fail(kTarget, "the database password is in the run record: " + r.record, input);
  return 0;
}
