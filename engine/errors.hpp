#pragma once
// Typed errors of the engine. Each kind maps to one documented exit code of the CLI,
// so the class of a failure decides how the process ends, not the message text.
#include <stdexcept>
#include <string>

namespace rb {

// Documented, stable exit codes (docs/operator-guide.md#exit-codes).
enum class ExitCode : int {
  ok = 0,
  step_failed = 1,
  usage = 2,          // bad command line, bad runbook, bad configuration
  aborted = 3,        // confirmation refused, lock not acquired, interrupted
  verify_failed = 4,  // parity FAIL, post-verify FAIL
  pending = 5,        // not an error: status.lua found migrations to apply
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }
  // Short machine-readable kind, used in run records and Lua error tables.
  const char* kind() const noexcept {
    switch (code_) {
      case ExitCode::usage: return "config";
      case ExitCode::aborted: return "aborted";
      case ExitCode::verify_failed: return "verify_failed";
      default: return "failed";
    }
  }

 private:
  ExitCode code_;
};

// A step or primitive failed (SQL error, command failed, ...).
struct StepError : Error {
  explicit StepError(const std::string& m) : Error(ExitCode::step_failed, m) {}
};
// Bad input from the operator or the runbook author: arguments, parameters, files, settings.
struct ConfigError : Error {
  explicit ConfigError(const std::string& m) : Error(ExitCode::usage, m) {}
};
// The run stopped on purpose before changing anything more.
struct AbortError : Error {
  explicit AbortError(const std::string& m) : Error(ExitCode::aborted, m) {}
};
// A verification gate did not pass.
struct VerifyError : Error {
  explicit VerifyError(const std::string& m) : Error(ExitCode::verify_failed, m) {}
};

// The one table from error kind ("failed", "config", "aborted", "verify_failed") or outcome
// ("pending", see Context:conclude) to exit code.
inline ExitCode exit_code_for(const std::string& kind) {
  if (kind == "config") return ExitCode::usage;
  if (kind == "aborted") return ExitCode::aborted;
  if (kind == "verify_failed") return ExitCode::verify_failed;
  if (kind == "pending") return ExitCode::pending;
  return ExitCode::step_failed;
}

}  // namespace rb
