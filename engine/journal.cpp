#include "engine/journal.hpp"

#include "engine/files.hpp"
#include "engine/report_html.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/errors.hpp"

namespace fs = std::filesystem;

namespace rb {

namespace {

std::string format_time(const char* fmt, bool millis) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  std::string out = buf;
  if (millis) {
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms));
    out += frac;
    out += "Z";
  }
  return out;
}

// Longer tables of the Markdown summary are folded in <details>.
constexpr std::size_t kMarkdownRowsShown = 20;

std::string md_cell(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '|') c = ' ';
  return s;
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace

std::string new_run_id() {
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%06x", static_cast<unsigned>(rd()) & 0xffffffu);
  return format_time("%Y%m%dT%H%M%SZ", false) + "-" + suffix;
}

std::string utc_now_iso() { return format_time("%Y-%m-%dT%H:%M:%S", true); }

Journal::Journal(std::string dir, std::string run_id, nlohmann::json header, const Redactor* redactor,
                 events::Sink sink)
    : dir_(std::move(dir)), run_id_(std::move(run_id)), redactor_(redactor), sink_(std::move(sink)),
      record_(std::move(header)) {
  record_["schema_version"] = events::kSchemaVersion;
  // An empty Lua table arrives as []: parameters are always an object.
  if (record_.contains("parameters") && record_["parameters"].is_array() && record_["parameters"].empty())
    record_["parameters"] = nlohmann::json::object();
  record_["run_id"] = run_id_;
  record_["status"] = "running";
  record_["started_at"] = utc_now_iso();
  record_["steps"] = nlohmann::json::array();
  for (const char* k : {"migrations", "backups", "checks", "artifacts"}) record_[k] = nlohmann::json::array();
  if (!dir_.empty()) files::make_directories(dir_);  // 0700 where created; the first write must work
  write_record();
  nlohmann::json run = record_;
  for (const char* k : {"status", "steps", "migrations", "backups", "checks", "artifacts"}) run.erase(k);
  run["at"] = record_["started_at"];
  emit(events::run_event(run));
}

void Journal::emit(nlohmann::json event) {
  if (!sink_) return;
  if (redactor_) events::redact_values(event, *redactor_);
  sink_(event);
}

std::string Journal::json_path() const { return dir_.empty() ? "" : (fs::path(dir_) / (run_id_ + ".json")).string(); }
std::string Journal::html_path() const { return dir_.empty() ? "" : (fs::path(dir_) / (run_id_ + ".html")).string(); }
std::string Journal::markdown_path() const { return dir_.empty() ? "" : (fs::path(dir_) / (run_id_ + ".md")).string(); }

nlohmann::json& Journal::current_step() {
  auto& steps = record_["steps"];
  if (steps.empty() || steps.back()["status"] != "running") {
    // Events outside any step (e.g. during loading) go to a pseudo-step.
    steps.push_back({{"name", "(runbook)"}, {"status", "running"}, {"started_at", utc_now_iso()},
                     {"events", nlohmann::json::array()}});
  }
  return steps.back();
}

void Journal::step_started(const std::string& name, const std::string& description) {
  record_["steps"].push_back({{"name", name},
                              {"description", description},
                              {"status", "running"},
                              {"started_at", utc_now_iso()},
                              {"events", nlohmann::json::array()}});
  step_started_ = std::chrono::steady_clock::now();
  emit({{"event", "step"}, {"at", record_["steps"].back()["started_at"]}, {"name", name}, {"description", description},
        {"status", "running"}});
  flush();
}

void Journal::step_finished(const std::string& status, const std::string& error) {
  auto& step = current_step();
  step["status"] = status;
  step["finished_at"] = utc_now_iso();
  if (step.contains("description")) {  // a real step (not the pseudo-step for loose events)
    step["duration_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - step_started_)
                              .count();
  }
  if (!error.empty()) step["error"] = error;
  nlohmann::json e{{"event", "step"}, {"at", step["finished_at"]}, {"name", step["name"]}, {"status", status}};
  if (step.contains("duration_ms")) e["duration_ms"] = step["duration_ms"];
  if (!error.empty()) e["error"] = error;
  emit(std::move(e));
  flush();
}

void Journal::step_skipped(const std::string& name, const std::string& reason) {
  record_["steps"].push_back({{"name", name}, {"status", "skipped"}, {"reason", reason}, {"events", nlohmann::json::array()}});
  emit({{"event", "step"}, {"at", utc_now_iso()}, {"name", name}, {"status", "skipped"}, {"reason", reason}});
  flush();
}

void Journal::event(const std::string& kind, const nlohmann::json& detail) {
  // The stream's own kinds: a step recording one would forge the run's start or end.
  if (kind == "run" || kind == "step" || kind == "end")
    throw ConfigError("ctx:record: \"" + kind + "\" is an event of the run itself (run, step, end); record it under another kind");
  nlohmann::json e = detail.is_object() ? detail : nlohmann::json{{"value", detail}};
  e["event"] = kind;
  e["at"] = utc_now_iso();
  auto& step = current_step();
  step["events"].push_back(e);
  e["step"] = step["name"];
  emit(std::move(e));
  if (kind == "migration" || kind == "backup" || kind == "check" || kind == "artifact")
    record_[kind + "s"].push_back(detail);
  // Backups are flushed at once: rollback finds them through the record.
  if (kind == "backup") flush();
  else flush_if_due();
}

void Journal::flush_if_due() {
  if (std::chrono::steady_clock::now() - last_flush_ >= std::chrono::seconds(1)) flush();
}

void Journal::set(const std::string& key, const nlohmann::json& value) {
  record_[key] = value;
  flush();
}

void Journal::finish(const std::string& status, int exit_code, const std::string& error) {
  auto& steps = record_["steps"];
  if (!steps.empty() && steps.back()["status"] == "running") step_finished(status == "succeeded" ? "ok" : status, error);
  record_["status"] = status;
  record_["exit_code"] = exit_code;
  record_["finished_at"] = utc_now_iso();
  if (!error.empty()) record_["error"] = error;
  flush();
  if (!last_write_error_.empty()) write_final_compact();
  std::string report;
  if (!dir_.empty() && last_write_error_.empty()) {
    try {  // once, at the end: a report is for reading after the run, the JSON for following it
      files::write_private(html_path(), report::html(record_));
      report = html_path();
    } catch (const std::exception& e) {
      if (on_write_error) on_write_error(std::string("the HTML report could not be written (") + e.what() + ")");
    }
  }
  nlohmann::json end = events::end_event(run_id_, status, exit_code, error, json_path(), markdown_path());
  std::error_code ec;
  end["html"] = report.empty() ? nlohmann::json(nullptr) : nlohmann::json(fs::absolute(report, ec).string());
  emit(std::move(end));
  sink_ = {};  // one end event, whatever a caller does afterwards
}

std::string Journal::markdown() const {
  const auto& r = record_;
  std::string md = "# runbook " + str(r, "runbook") + ": " + str(r, "status") + "\n\n";
  md += "| | |\n|---|---|\n";
  for (auto [label, key] : {std::pair{"Run", "run_id"}, {"Mode", "mode"}, {"Environment", "environment"},
                            {"Database", "database"}, {"Operator", "operator"}, {"Host", "host"},
                            {"Started", "started_at"}, {"Finished", "finished_at"}, {"Exit code", "exit_code"}}) {
    std::string v = str(r, key);
    if (!v.empty()) md += std::string("| ") + label + " | " + md_cell(v) + " |\n";
  }
  if (r.contains("parameters") && r["parameters"].is_object() && !r["parameters"].empty()) {
    md += "\n## Parameters\n\n| Name | Value |\n|---|---|\n";
    for (auto it = r["parameters"].begin(); it != r["parameters"].end(); ++it)
      md += "| " + it.key() + " | " + md_cell(it.value().is_string() ? it.value().get<std::string>() : it.value().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + " |\n";
  }
  md += "\n## Steps\n\n| # | Step | Status | Time |\n|---|---|---|---|\n";
  int n = 0;
  for (const auto& s : r["steps"]) {
    std::string t = s.contains("duration_ms") ? std::to_string(s["duration_ms"].get<long long>()) + " ms" : "";
    md += "| " + std::to_string(++n) + " | " + md_cell(str(s, "name")) + " | " + str(s, "status") + " | " + t + " |\n";
  }
  if (!r["migrations"].empty()) {
    // A PR comment stays readable: a long table is folded (GitHub renders <details>).
    const bool fold = r["migrations"].size() > kMarkdownRowsShown;
    md += "\n## Migrations (" + std::to_string(r["migrations"].size()) + ")\n\n";
    if (fold) md += "<details><summary>" + std::to_string(r["migrations"].size()) + " migrations</summary>\n\n";
    md += "| Migration | SHA-256 | Status | Time |\n|---|---|---|---|\n";
    for (const auto& m : r["migrations"]) {
      std::string sha = str(m, "sha256");
      md += "| " + md_cell(str(m, "name")) + " | `" + sha.substr(0, 16) + "` | " + str(m, "status") + " | " +
            (m.contains("ms") && m["ms"].is_number() ? std::to_string(static_cast<long long>(m["ms"].get<double>())) + " ms" : "") + " |\n";
    }
    if (fold) md += "\n</details>\n";
  }
  std::string findings, acks, failures;
  std::size_t n_findings = 0;
  for (const auto& s : r["steps"]) {
    if (!s.contains("events")) continue;
    for (const auto& e : s["events"]) {
      const std::string kind = e.value("event", e.value("kind", ""));
      if (kind == "finding") {
        ++n_findings;
        findings += "| " + md_cell(str(e, "file") + ":" + str(e, "line")) + " | " + md_cell(str(e, "rule")) + " | " +
                    str(e, "severity") + (e.value("destructive", false) ? ", destructive" : "") + " | " +
                    md_cell(str(e, "message")) + " |\n";
      } else if (kind == "acknowledgement") {
        acks += "- `" + md_cell(str(e, "finding")) + "` (" + md_cell(str(e, "how")) + ")\n";
      } else if (kind == "failure") {
        failures += "- `" + md_cell(str(e, "migration")) + "` " + md_cell(str(e, "file")) +
                    (e.contains("line") ? ":" + str(e, "line") : "") +
                    (e.contains("sqlstate") ? ", SQLSTATE " + str(e, "sqlstate") : "") + "\n";
      }
    }
  }
  if (!failures.empty()) md += "\n## Failed\n\n" + failures;
  if (n_findings) {
    md += "\n## Findings (" + std::to_string(n_findings) + ")\n\n";
    if (n_findings > kMarkdownRowsShown) md += "<details><summary>" + std::to_string(n_findings) + " findings</summary>\n\n";
    md += "| Where | Rule | Severity | Why |\n|---|---|---|---|\n" + findings;
    if (n_findings > kMarkdownRowsShown) md += "\n</details>\n";
  }
  if (!acks.empty()) md += "\n## Acknowledged\n\n" + acks;
  if (!r["backups"].empty()) {
    md += "\n## Backups\n\n| File | Size | SHA-256 |\n|---|---|---|\n";
    for (const auto& b : r["backups"])
      md += "| " + md_cell(str(b, "path")) + " | " + str(b, "size") + " | `" + str(b, "sha256") + "` |\n";
  }
  if (!r["checks"].empty()) {
    md += "\n## Checks\n\n| Check | Result | Detail |\n|---|---|---|\n";
    for (const auto& c : r["checks"])
      md += "| " + md_cell(str(c, "name")) + " | " + str(c, "result") + " | " + md_cell(str(c, "detail")) + " |\n";
  }
  if (r.contains("error")) md += "\n## Error\n\n```\n" + str(r, "error") + "\n```\n";
  return md;
}

void Journal::write_record() {
  if (dir_.empty()) return;
  if (redactor_) events::redact_values(record_, *redactor_);
  // A value that is not UTF-8 (a --set value, a command's output) is written with U+FFFD, never
  // a reason for the record, or the run, to fail.
  files::write_private(json_path(), record_.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  files::write_private(markdown_path(), markdown());
}

void Journal::flush() {
  last_flush_ = std::chrono::steady_clock::now();
  // A record that cannot be written (disk full) never stops a run half-way through a chain:
  // the last good record stays (atomic rename), the operator is warned once per cause.
  try {
    write_record();
  } catch (const std::exception& e) {
    const std::string why = e.what();
    if (why != last_write_error_) {
      last_write_error_ = why;
      if (on_write_error) on_write_error("the run record could not be written (" + why +
                                         "); the run goes on, the last record written stays");
    }
    return;
  }
  if (!last_write_error_.empty()) {
    last_write_error_.clear();
    if (on_write_error) on_write_error("the run record is written again: " + json_path());
  }
}

// The run's outcome must not stay "running" because its events no longer fit. Smaller and
// smaller records are tried: without the steps' events, then the outcome alone (status, exit
// code, error, counts). Each atomically if there is room for a second copy, else over the last
// one (truncating it is what frees the room).
void Journal::write_final_compact() {
  if (dir_.empty()) return;
  const std::string why = "the run record could not be written in full (" + last_write_error_ + ")";
  nlohmann::json compact = record_;
  for (auto& step : compact["steps"]) step.erase("events");
  compact["left_out"] = why + "; the steps' events are left out";
  nlohmann::json minimal;
  for (const char* k : {"run_id", "runbook", "mode", "environment", "database", "operator", "host", "started_at",
                        "finished_at", "status", "exit_code", "error"})
    if (record_.contains(k)) minimal[k] = record_[k];
  minimal["migrations_count"] = record_["migrations"].size();
  minimal["left_out"] = why + "; only the outcome is kept";
  std::string last_error;
  for (auto* candidate : {&compact, &minimal}) {
    if (redactor_) events::redact_values(*candidate, *redactor_);
    const std::string json = candidate->dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    for (const bool in_place : {false, true}) {
      try {
        if (in_place) files::overwrite_private(json_path(), json);
        else files::write_private(json_path(), json);
        try {
          files::overwrite_private(markdown_path(), markdown());
        } catch (const std::exception&) {
        }
        if (on_write_error) on_write_error("the final run record was written without what did not fit (the disk is full): " + json_path());
        return;
      } catch (const std::exception& e) {
        last_error = e.what();
      }
    }
  }
  if (on_write_error) on_write_error("the final run record could not be written either: " + last_error);
}

}  // namespace rb
