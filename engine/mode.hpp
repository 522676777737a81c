#pragma once
// The run mode. Every primitive that changes anything consults it itself.
#include <string>

namespace rb {

enum class RunMode { live, dry_run };

inline const char* to_string(RunMode m) { return m == RunMode::live ? "live" : "dry-run"; }
inline bool changes_allowed(RunMode m) { return m == RunMode::live; }

}  // namespace rb
