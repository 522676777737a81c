#pragma once
// Runs a program from an argv list (never through a shell unless the caller builds
// {"/bin/sh", "-c", ...} itself) in its own process group, with pipes, a timeout and the
// run's cancel token (engine/cancel.hpp) ending the whole group, and bounded capture of
// stdout/stderr.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rb {

struct Command {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to (or overriding) the inherited environment
  // Inherited variables whose value contains one of these are not passed on (the database's
  // password in DATABASE_URL or PGPASSWORD: a hook has no use for it); `env` still sets any.
  std::vector<std::string> withheld_values;
  std::string cwd;                         // empty: the current directory
  std::string stdin_data;                  // written to the child's stdin, which is then closed
  double timeout_s = 0;                    // 0 = none
  std::size_t capture_limit = 1 << 20;     // per stream; the excess is read and discarded
};

struct CommandResult {
  int exit_code = 0;    // -1 when the program was ended by a signal
  int term_signal = 0;  // the signal that ended it, 0 when it exited
  bool timed_out = false;
  bool cancelled = false;  // stopped because the run was interrupted (rb::cancel)
  bool killed = false;     // its group got SIGKILL (after the grace, or at a second request)
  std::string out, err;
  bool out_truncated = false, err_truncated = false;
  double duration_ms = 0;
};

// Runs the command to completion. Throws rb::StepError when the program cannot be started
// ("cannot run 'x': No such file or directory") and rb::ConfigError for an empty argv.
// Throws rb::AbortError, starting nothing, when cancellation was already requested.
// The child runs in its own process group, so a terminal's ^C reaches only the runner.
// On timeout, or when cancellation is requested while it runs (checked at every poll
// wakeup, at least every 50 ms), the child's process group gets SIGTERM, then SIGKILL after
// a 2 s grace; a second cancel request (rb::cancel::count() >= 2) sends SIGKILL at once.
// When the program itself has exited, output of background processes it left behind is
// read for a short moment only; they are not killed.
CommandResult run_command(const Command& command);

// The argv for display: arguments with spaces or shell metacharacters are single-quoted.
std::string format_argv(const std::vector<std::string>& argv);

// Full path of an executable: a name with a '/' is checked as is, others are searched on PATH.
std::optional<std::string> find_program(const std::string& name);

}  // namespace rb
