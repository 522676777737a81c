#pragma once
// The run mode. Every primitive that changes anything consults it itself.
#include <string>

namespace rb {

enum class RunMode {
  live,      // does it
  dry_run,   // reads for real, changes nothing, prints what it would do
  rehearse,  // like dry-run, except that pending migrations run for real inside one
             // transaction that is rolled back: the SQL is proven and timed, nothing stays
};

inline const char* to_string(RunMode m) {
  switch (m) {
    case RunMode::live: return "live";
    case RunMode::dry_run: return "dry-run";
    case RunMode::rehearse: return "rehearse";
  }
  return "?";
}
// Only live runs change anything outside a rolled-back rehearsal transaction.
inline bool changes_allowed(RunMode m) { return m == RunMode::live; }

}  // namespace rb
