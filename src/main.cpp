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
#include "engine/events.hpp"
#include "src/serve.hpp"

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

// `--json` promises a stream that ends with an end event, also when the command line itself is
// wrong (the options are not parsed yet: the flag is looked for as given).
bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--json") return true;
  return false;
}

int usage_error(bool json, const std::string& message) {
  if (json) std::cout << rb::events::line(rb::events::end_event("", "usage error", 2, message, "", ""), nullptr) << std::endl;
  return static_cast<int>(rb::ExitCode::usage);
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
  app.add_flag("--json", o.json,
               "print the run's events on stdout as they happen, one JSON object per line, ending with an end "
               "event (status, exit code, the record's path); docs/events.schema.json");
  app.add_option("--from", o.from, "start at this step (gates always run)");
  app.add_option("--only", o.only, "run only this step (and the gates)");
  app.add_option("--skip", o.skip, "skip this step (repeatable; gates always run)")->allow_extra_args(false);
  app.add_option("--ack", o.acks,
                 "acknowledge one destructive finding of the plan by name, e.g. --ack drop-table@0005_drop_legacy.sql "
                 "(repeatable; --yes never acknowledges)")
      ->allow_extra_args(false);
  app.add_option("--check", o.checks,
                 "tick one checklist item by its id, e.g. --check on-call (repeatable; --yes and --confirm never tick "
                 "one; see --describe for a runbook's items)")
      ->allow_extra_args(false);
  app.add_option("--checklist", o.checklist_file,
                 "tick the checklist items a file names, one id per line ('ID' or 'ID: who ticked it', # comments)");
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

  rb::serve::Options serve;
  std::vector<std::string> serve_sets;
  auto* serve_cmd = app.add_subcommand(
      "serve", "serve seed 000's parity endpoint GET /api/ops/db/migrations?env=NAME&limit=N and a page of each "
               "environment's parity and recent runs (answers come from status.lua: a read-only session, no record)");
  serve_cmd->add_option("--listen", serve.listen,
                        "ADDRESS:PORT (default 127.0.0.1:8080); an address other than loopback needs "
                        "RUNBOOK_SERVE_TOKEN, sent by clients as 'Authorization: Bearer TOKEN'");
  serve_cmd->add_option("--env", serve.envs, "an environment to serve (repeatable; none: the default one, DATABASE_URL)")
      ->allow_extra_args(false);
  serve_cmd->add_option("--set", serve_sets, "a status.lua parameter, e.g. --set migrations=DIR (repeatable)")
      ->allow_extra_args(false);
  serve_cmd->add_option("--environments", serve.environments_file, "Lua environments file (as for a run)");
  serve_cmd->add_option("--journal", serve.journal_dir, "the run records to list (as for a run)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return usage_error(wants_json(argc, argv), e.what());
  }
  if (serve_cmd->parsed()) {
    for (const auto& kv : serve_sets) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "error: parameter \"" << kv << "\" must look like key=value\n";
        return static_cast<int>(rb::ExitCode::usage);
      }
      serve.sets.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    if (serve.journal_dir.empty()) {
      const char* j = std::getenv("RUNBOOK_JOURNAL");
      serve.journal_dir = j && *j ? j : ".runbook/runs";
    }
    serve.self = "/proc/self/exe";
    try {
      return rb::serve::run(serve);
    } catch (const rb::Error& e) {
      std::cerr << "error: " << e.what() << "\n";
      return static_cast<int>(e.code());
    }
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
  {
    const char* term = std::getenv("TERM");
    o.live_progress = isatty(STDERR_FILENO) && !quiet && !(term && std::string(term) == "dumb");
  }
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
      const std::string msg = "parameter \"" + s + "\" must look like key=value";
      std::cerr << "error: " << msg << "\n";
      return usage_error(o.json, msg);
    }
    o.sets.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }

  try {
    if (list) return rb::lua::list_runbooks(o);
    if (runbook.empty()) {
      std::cerr << "error: no runbook given (try --list, or --help)\n";
      return usage_error(o.json, "no runbook given");
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
