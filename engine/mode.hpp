#pragma once
// The run mode. Every primitive that changes anything consults it itself.
#include <string>

#include "engine/errors.hpp"

namespace rb {

enum class RunMode {
  live,      // does it
  dry_run,   // reads for real, changes nothing, prints what it would do
  rehearse,  // like dry-run, except that pending migrations run for real inside one
             // transaction that is rolled back: the SQL is proven and timed, nothing stays
  inert,     // loading a runbook file for --describe or --list: no effect at all, not even
             // a read-only one (no database session, no process, no request, no file write)
};

inline const char* to_string(RunMode m) {
  switch (m) {
    case RunMode::live: return "live";
    case RunMode::dry_run: return "dry-run";
    case RunMode::rehearse: return "rehearse";
    case RunMode::inert: return "inert";
  }
  return "?";
}
// Only live runs change anything outside a rolled-back rehearsal transaction.
inline bool changes_allowed(RunMode m) { return m == RunMode::live; }

// The mode a primitive works in on one connection: a rehearsal or dry-run changes the run's
// own ephemeral cluster for real (that is what a shadow rehearsal is) and nothing else.
inline RunMode mode_on(RunMode m, bool private_cluster) {
  return private_cluster && (m == RunMode::rehearse || m == RunMode::dry_run) ? RunMode::live : m;
}

// Whether a primitive may do anything outside the Lua state at all, even read. Dry-run and
// rehearsal read for real; inert mode (a runbook file loaded to be described) does nothing.
inline bool effects_allowed(RunMode m) { return m != RunMode::inert; }

// The words every inert-mode refusal contains (the host recognises a refused load by them).
inline constexpr const char kInertRefusal[] = "is not available while loading a runbook for --describe/--list";

// Refuses an effectful primitive in inert mode: `what` names it ("shell.run", "db.connect").
// Throws ConfigError (exit code 2).
inline void require_effects(RunMode m, const std::string& what) {
  if (effects_allowed(m)) return;
  throw ConfigError(what + " " + kInertRefusal +
                    ": a runbook file's top-level code (and the modules it requires) must not have "
                    "effects; do it inside a step");
}

}  // namespace rb
