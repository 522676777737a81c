#include "engine/events.hpp"

#include <filesystem>

#include "engine/journal.hpp"

namespace rb::events {

nlohmann::json run_event(const nlohmann::json& header) {
  nlohmann::json e = header;
  e["event"] = "run";
  e["schema_version"] = kSchemaVersion;
  if (!e.contains("at")) e["at"] = utc_now_iso();
  return e;
}

nlohmann::json end_event(const std::string& run_id, const std::string& status, int exit_code,
                         const std::string& error, const std::string& record, const std::string& markdown) {
  nlohmann::json e{{"event", "end"}, {"at", utc_now_iso()}, {"status", status}, {"exit_code", exit_code}};
  if (!run_id.empty()) e["run_id"] = run_id;
  if (!error.empty()) e["error"] = error;
  // Absolute: CI reads it from wherever it runs, not from the runner's working directory.
  std::error_code ec;
  e["record"] = record.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::filesystem::absolute(record, ec).string());
  e["markdown"] = markdown.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::filesystem::absolute(markdown, ec).string());
  return e;
}

std::string status_of_exit_code(int exit_code) {
  switch (exit_code) {
    case 0: return "succeeded";
    case 2: return "usage error";
    case 3: return "aborted";
    case 4: return "verification failed";
    case 5: return "pending";
    default: return "failed";
  }
}

void redact_values(nlohmann::json& j, const Redactor& r) {
  if (j.is_string()) {
    j = r.apply(j.get<std::string>());
  } else if (j.is_array() || j.is_object()) {
    for (auto& item : j) redact_values(item, r);
  }
}

std::string line(nlohmann::json event, const Redactor* redactor) {
  if (redactor) redact_values(event, *redactor);
  return event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace rb::events
