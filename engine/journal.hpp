#pragma once
// The run record: JSON plus a Markdown summary, rewritten at every step boundary and at
// most once a second within a step, so a killed run still leaves a record of how far it
// got without the cost of rewriting it after each of thousands of migrations.
#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/events.hpp"
#include "engine/redact.hpp"

namespace rb {

// "20261122T024512Z-3fa9c1": sortable, unique enough across concurrent runners.
std::string new_run_id();
// "2026-11-22T02:45:12.123Z"
std::string utc_now_iso();

class Journal {
 public:
  // `header` holds runbook, file, version, parameters (already redacted), environment,
  // mode, operator and host. An empty `dir` keeps the record in memory only. `sink` receives
  // each event as it happens (run, step, the steps' events, end), redacted: `--json`.
  Journal(std::string dir, std::string run_id, nlohmann::json header, const Redactor* redactor,
          events::Sink sink = {});

  const std::string& run_id() const { return run_id_; }
  void step_started(const std::string& name, const std::string& description);
  void step_finished(const std::string& status, const std::string& error = "");
  void step_skipped(const std::string& name, const std::string& reason);
  // Adds an event to the current step. Kinds "migration", "backup", "check" and "artifact"
  // are also collected at the top level of the record under their plural names.
  // `kind` becomes the event's "event" field (and wins over one in `detail`).
  void event(const std::string& kind, const nlohmann::json& detail);
  void finish(const std::string& status, int exit_code, const std::string& error = "");
  void set(const std::string& key, const nlohmann::json& value);

  const nlohmann::json& record() const { return record_; }
  std::string json_path() const;
  std::string markdown_path() const;
  std::string html_path() const;  // the run report (engine/report_html.hpp), written when the run ends
  std::string markdown() const;

 // Called with a warning when the record cannot be written (and when it can again).
  std::function<void(const std::string&)> on_write_error;

 private:
  void flush();
  void emit(nlohmann::json event);
  void write_record();  // throws
  void write_final_compact();  // the disk is full at the end: a final record without the events
  std::string last_write_error_;
  void flush_if_due();  // within a step: at most once a second
  nlohmann::json& current_step();

  std::string dir_;
  std::string run_id_;
  const Redactor* redactor_;
  events::Sink sink_;
  nlohmann::json record_;
  std::chrono::steady_clock::time_point last_flush_{};
  std::chrono::steady_clock::time_point step_started_{};
};

}  // namespace rb
