#pragma once
// The Lua host: builds a sandboxed LuaJIT state with the runbook modules, finds and loads a
// runbook, and runs or describes it. The CLI (src/main.cpp) only parses options into these.
#include <string>
#include <utility>
#include <vector>

#include "engine/mode.hpp"

namespace rb::lua {

struct HostOptions {
  std::string runbook;                    // name on the search path, or a path
  std::vector<std::string> search_path;   // directories, in order
  RunMode mode = RunMode::live;
  std::string env;                        // --env NAME
  std::string environments_file;          // the Lua environments file
  std::vector<std::pair<std::string, std::string>> sets;  // --set key=value
  std::string confirm;                    // --confirm TOKEN
  bool yes = false;                       // --yes
  std::string journal_dir;
  bool json = false;                      // print the run record as JSON on stdout
  std::string from, only;
  std::vector<std::string> skip;
  std::vector<std::string> acks;          // --ack RULE@FILE: destructive findings acknowledged
  std::vector<std::string> checks;        // --check ID: checklist items ticked by name
  std::string checklist_file;             // --checklist FILE: items ticked, one per line
  std::string plan_out;                   // --plan-out FILE: write the run's plan as JSON
  std::string plan_in;                    // --plan FILE: run exactly that saved plan or refuse
  std::string timeout;                    // --timeout DURATION: the whole run's time limit
  std::string override_rehearsal;         // --override-rehearsal REASON: apply files never rehearsed
  int verbosity = 0;                      // -1 quiet, 0 normal, 1 verbose
  bool color = true;
  bool live_progress = false;  // stderr is a terminal: a progress line rewritten in place
};

// Directories searched for runbooks: ., $RUNBOOK_PATH, <exe>/../share/runbook/runbooks,
// the installed share directory.
std::vector<std::string> default_search_path(const std::string& argv0);

// The runbook file for `name`; throws rb::ConfigError listing the places searched.
std::string resolve_runbook(const std::string& name, const std::vector<std::string>& search_path);

// Each returns the process exit code (see rb::ExitCode).
int run_runbook(const HostOptions& options);
int describe_runbook(const HostOptions& options);
int list_runbooks(const HostOptions& options);

}  // namespace rb::lua
