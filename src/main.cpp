// runbook: run a Lua runbook against PostgreSQL. This file only parses the command line;
// everything else lives in bindings/host.cpp and engine/.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "bindings/host.hpp"
#include "engine/errors.hpp"

namespace {

const char* kExitCodes =
    "Exit codes:\n"
    "  0  success\n"
    "  1  a step failed (SQL error, command failed, ...)\n"
    "  2  usage or configuration error (bad option, parameter, runbook or environments file)\n"
    "  3  aborted (confirmation refused or missing, a requirement of the plan unmet, lock not acquired,\n"
    "     the ledger moved since the plan, interrupted by ^C, SIGTERM or SIGHUP, --timeout passed)\n"
    "  4  verification failed (parity FAIL, post-verify FAIL, drift, a saved --plan that no longer matches)\n"
    "  5  status.lua: migrations are pending (nothing else is wrong)\n";

// The host colours lines by meaning itself (bindings/host.cpp, say): spdlog's own colours,
// one per level, would paint every info line green, FAIL rows included.
void setup_logging(int verbosity) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::never);
  auto logger = std::make_shared<spdlog::logger>("runbook", sink);
  logger->set_pattern("%v");
  logger->set_level(verbosity < 0 ? spdlog::level::warn : verbosity > 0 ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  rb::lua::HostOptions o;
  CLI::App app{"runbook " RUNBOOK_VERSION
               " — run Lua runbooks for PostgreSQL change operations (apply, rollback, verify, ...)",
               "runbook"};
  app.footer(std::string("\nRunbooks are found as a path, then by name in: the current directory, $RUNBOOK_PATH,\n"
                         "and the installed share directory. Parameters: --set name=value (see --describe).\n\n") +
             kExitCodes);
  std::string runbook;
  std::vector<std::string> args, sets;
  bool dry_run = false, rehearse = false, list = false, describe = false, version = false, quiet = false, no_color = false;
  int verbose = 0;
  app.add_option("RUNBOOK", runbook, "runbook name (apply-prod.lua, apply) or path");
  app.add_option("ARGS", args, "parameters as key=value (same as --set)");
  app.add_option("--env", o.env, "environment from the environments file (database, tokens, hooks)");
  app.add_option("--environments", o.environments_file,
                 "Lua environments file (default: $RUNBOOK_ENVIRONMENTS or ./environments.lua)");
  // One value per occurrence, so `--set a=b apply.lua` does not swallow the runbook name.
  app.add_option("--set", sets, "set a runbook parameter: --set key=value (repeatable)")->allow_extra_args(false);
  app.add_flag("--dry-run,-n", dry_run, "read for real, change nothing; print the SQL, commands and requests");
  app.add_flag("--rehearse", rehearse,
               "like --dry-run, but the pending migrations run for real on a shadow (an ephemeral cluster holding "
               "the target's schema and ledger): proven, timed, locks and rewrites reported (asks for "
               "confirmation; --set rehearse_on=target runs them on the target in a rolled-back transaction)")
      ->excludes("--dry-run");
  app.add_option("--confirm", o.confirm, "answer a typed-token confirmation (e.g. --confirm PROD-OK)");
  app.add_flag("--yes,-y", o.yes, "answer plain yes/no confirmations (never a typed-token one)");
  app.add_option("--journal", o.journal_dir, "directory for run records (default: $RUNBOOK_JOURNAL or ./.runbook/runs)");
  app.add_flag("--json", o.json, "print the run record as JSON on stdout when the run ends");
  app.add_option("--from", o.from, "start at this step (gates always run)");
  app.add_option("--only", o.only, "run only this step (and the gates)");
  app.add_option("--skip", o.skip, "skip this step (repeatable; gates always run)")->allow_extra_args(false);
  app.add_option("--ack", o.acks,
                 "acknowledge one destructive finding of the plan by name, e.g. --ack drop-table@0005_drop_legacy.sql "
                 "(repeatable; --yes never acknowledges)")
      ->allow_extra_args(false);
  app.add_option("--plan-out", o.plan_out,
                 "write the run's plan (files and hashes, ledger fingerprint, database, policy, findings) as JSON; "
                 "typically with --dry-run");
  app.add_option("--plan", o.plan_in,
                 "run exactly the plan saved with --plan-out, or refuse naming what changed (a file, the ledger, "
                 "the database)");
  app.add_option("--override-rehearsal", o.override_rehearsal,
                 "apply although the environment's require_rehearsal (or min_soak) is not met; the reason is "
                 "printed and recorded, e.g. --override-rehearsal \"hotfix INC-123, rehearsed by hand\"");
  app.add_option("--timeout", o.timeout,
                 "stop the run like ^C when it runs longer than this (30s, 10min, 2h): statements are cancelled "
                 "and the failure handler runs; exit code 3 (overrides the runbook's own timeout)");
  app.add_flag("--list", list, "list the runbooks on the search path");
  app.add_flag("--describe", describe, "show the runbook's parameters and steps; connects to nothing");
  app.add_flag("--quiet,-q", quiet, "only warnings and errors");
  app.add_flag("-v,--verbose", verbose, "more detail, including tracebacks of typed errors");
  std::string color_when = "auto";
  app.add_option("--color", color_when,
                 "colours by meaning: auto (stderr is a terminal, NO_COLOR unset or empty, TERM not dumb), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_flag("--no-color", no_color, "same as --color=never");
  app.add_flag("--version", version, "print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return static_cast<int>(rb::ExitCode::usage);
  }
  if (version) {
    std::cout << "runbook " << RUNBOOK_VERSION << "\n";
    return 0;
  }
  bool color = false;
  if (no_color || color_when == "never") {
    color = false;
  } else if (color_when == "always") {
    color = true;
  } else {  // https://no-color.org: NO_COLOR set to a non-empty value turns colours off
    const char* no = std::getenv("NO_COLOR");
    const char* term = std::getenv("TERM");
    color = isatty(STDERR_FILENO) && !(no && *no) && !(term && std::string(term) == "dumb");
  }
  setup_logging(quiet ? -1 : verbose);
  o.verbosity = quiet ? -1 : verbose;
  o.color = color;
  o.mode = rehearse ? rb::RunMode::rehearse : dry_run ? rb::RunMode::dry_run : rb::RunMode::live;
  o.runbook = runbook;
  o.search_path = rb::lua::default_search_path(argv[0]);
  if (o.journal_dir.empty()) {
    const char* j = std::getenv("RUNBOOK_JOURNAL");
    o.journal_dir = j && *j ? j : ".runbook/runs";
  }
  if (o.environments_file.empty()) {
    const char* e = std::getenv("RUNBOOK_ENVIRONMENTS");
    o.environments_file = e && *e ? e : "environments.lua";
  }
  sets.insert(sets.end(), args.begin(), args.end());
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "error: parameter \"" << s << "\" must look like key=value\n";
      return static_cast<int>(rb::ExitCode::usage);
    }
    o.sets.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }

  try {
    if (list) return rb::lua::list_runbooks(o);
    if (runbook.empty()) {
      std::cerr << "error: no runbook given (try --list, or --help)\n";
      return static_cast<int>(rb::ExitCode::usage);
    }
    if (describe) return rb::lua::describe_runbook(o);
    return rb::lua::run_runbook(o);
  } catch (const rb::Error& e) {
    spdlog::error("error: {}", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    spdlog::error("error: {}", e.what());
    return static_cast<int>(rb::ExitCode::step_failed);
  }
}
