#include "engine/journal.hpp"

#include "engine/files.hpp"

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

Journal::Journal(std::string dir, std::string run_id, nlohmann::json header, const Redactor* redactor)
    : dir_(std::move(dir)), run_id_(std::move(run_id)), redactor_(redactor), record_(std::move(header)) {
  record_["run_id"] = run_id_;
  record_["status"] = "running";
  record_["started_at"] = utc_now_iso();
  record_["steps"] = nlohmann::json::array();
  for (const char* k : {"migrations", "backups", "checks", "artifacts"}) record_[k] = nlohmann::json::array();
  if (!dir_.empty()) files::make_directories(dir_);  // 0700 where created; the first write must work
  write_record();
}

std::string Journal::json_path() const { return dir_.empty() ? "" : (fs::path(dir_) / (run_id_ + ".json")).string(); }
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
  flush();
}

void Journal::step_skipped(const std::string& name, const std::string& reason) {
  record_["steps"].push_back({{"name", name}, {"status", "skipped"}, {"reason", reason}, {"events", nlohmann::json::array()}});
  flush();
}

void Journal::event(const std::string& kind, const nlohmann::json& detail) {
  nlohmann::json e = detail;
  e["kind"] = kind;
  e["at"] = utc_now_iso();
  current_step()["events"].push_back(e);
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
    md += "\n## Migrations\n\n| Migration | SHA-256 | Status | Time |\n|---|---|---|---|\n";
    for (const auto& m : r["migrations"]) {
      std::string sha = str(m, "sha256");
      md += "| " + md_cell(str(m, "name")) + " | `" + sha.substr(0, 16) + "` | " + str(m, "status") + " | " +
            (m.contains("ms") ? std::to_string(static_cast<long long>(m["ms"].get<double>())) + " ms" : "") + " |\n";
    }
  }
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

namespace {
// Masks secrets in every string of a JSON value. Done on values, not on the serialised
// text, where a secret containing '"' or '\\' would appear escaped and go unmatched.
void redact_values(nlohmann::json& j, const Redactor& r) {
  if (j.is_string()) {
    j = r.apply(j.get<std::string>());
  } else if (j.is_array() || j.is_object()) {
    for (auto& item : j) redact_values(item, r);
  }
}
}  // namespace

void Journal::write_record() {
  if (dir_.empty()) return;
  if (redactor_) redact_values(record_, *redactor_);
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
    if (redactor_) redact_values(*candidate, *redactor_);
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
