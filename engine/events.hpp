#pragma once
// The run's event stream (`--json`): one JSON object per line, in the order things happen.
// docs/events.schema.json describes every event and the run record, which is made of the same
// events (its steps hold them); a consumer reads either with one schema.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/redact.hpp"

namespace rb::events {

// Bumped when a field a consumer may rely on changes meaning or goes away; new fields and new
// event kinds do not bump it.
inline constexpr int kSchemaVersion = 1;

using Sink = std::function<void(const nlohmann::json& event)>;

// The first event: what runs, where, by whom (the record's header).
nlohmann::json run_event(const nlohmann::json& header);
// The last event: how the run ended. `record` is the run record's path ("" when none is kept).
nlohmann::json end_event(const std::string& run_id, const std::string& status, int exit_code,
                         const std::string& error, const std::string& record, const std::string& markdown);
// "succeeded", "failed", ... for an exit code, when the run itself could not say (a usage error
// before any runbook ran).
std::string status_of_exit_code(int exit_code);

// Masks secrets in every string of a JSON value. Done on values, not on the serialised text,
// where a secret containing '"' or '\\' would appear escaped and go unmatched.
void redact_values(nlohmann::json& j, const Redactor& r);
// One line of the stream: compact, values redacted, text that is not UTF-8 written with U+FFFD.
std::string line(nlohmann::json event, const Redactor* redactor);

}  // namespace rb::events
