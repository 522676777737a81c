#include "engine/report_html.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include "engine/html.hpp"

namespace rb::report {

namespace {

using html::escape;

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Milliseconds since the epoch of "2026-11-22T02:45:12.123Z"; -1 when it is not one.
double epoch_ms(const std::string& iso) {
  int y, mo, d, h, mi, s, ms = 0;
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &y, &mo, &d, &h, &mi, &s, &ms) < 6) return -1;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<double>(timegm(&tm)) * 1000.0 + ms;
}

std::string ms_text(double ms) {
  char buf[32];
  if (ms < 1000) std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  else if (ms < 120000) std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000);
  else std::snprintf(buf, sizeof buf, "%.1f min", ms / 60000);
  return buf;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

const char* status_class(const std::string& s) {
  if (s == "ok" || s == "succeeded" || s == "PASS" || s == "applied" || s == "rehearsed" || s == "rolled back") return "ok";
  if (s == "skipped" || s == "would apply" || s == "would roll back" || s == "WARN" || s == "pending" || s == "running") return "warn";
  return "bad";
}

std::vector<nlohmann::json> events_of(const nlohmann::json& rec, const std::string& kind) {
  std::vector<nlohmann::json> out;
  if (!rec.contains("steps")) return out;
  for (const auto& step : rec["steps"])
    if (step.contains("events"))
      for (const auto& e : step["events"])
        if (e.value("event", e.value("kind", "")) == kind) out.push_back(e);
  return out;
}

std::string table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::string t = "<table><tr>";
  for (const auto& h : head) t += "<th>" + escape(h) + "</th>";
  t += "</tr>";
  for (const auto& r : rows) {
    t += "<tr>";
    for (const auto& c : r) t += "<td>" + c + "</td>";  // cells are escaped by the caller
    t += "</tr>";
  }
  return t + "</table>";
}

std::string badge(const std::string& s) { return "<span class=\"b " + std::string(status_class(s)) + "\">" + escape(s) + "</span>"; }

// Steps on one time axis: where each started and how long it took.
std::string timeline(const nlohmann::json& rec) {
  const double t0 = epoch_ms(text(rec, "started_at"));
  double end = t0;
  struct Bar { std::string name, status; double from, ms; };
  std::vector<Bar> bars;
  for (const auto& s : rec["steps"]) {
    const double from = epoch_ms(text(s, "started_at"));
    if (from < 0 || t0 < 0) continue;
    const double ms = s.contains("duration_ms") && s["duration_ms"].is_number() ? s["duration_ms"].get<double>() : 0;
    bars.push_back({text(s, "name"), text(s, "status"), from - t0, ms});
    end = std::max(end, from + ms);
  }
  if (bars.empty()) return "<p>No step ran.</p>";
  const double total = std::max(end - t0, 1.0);
  const int row = 22, label = 160, width = 900;
  std::string svg = "<svg role=\"img\" aria-label=\"steps timeline\" width=\"" + std::to_string(label + width + 90) +
                    "\" height=\"" + std::to_string(static_cast<int>(bars.size()) * row + 10) + "\">";
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const auto& b = bars[i];
    const double x = label + b.from / total * width, w = std::max(2.0, b.ms / total * width);
    const int y = static_cast<int>(i) * row + 4;
    svg += "<text x=\"0\" y=\"" + std::to_string(y + 14) + "\">" + escape(b.name) + "</text>";
    svg += "<rect class=\"" + std::string(status_class(b.status)) + "\" x=\"" + num(x) + "\" y=\"" + std::to_string(y) +
           "\" width=\"" + num(w) + "\" height=\"16\"><title>" + escape(b.name + ": " + b.status + ", " + ms_text(b.ms)) +
           "</title></rect>";
    svg += "<text x=\"" + num(x + w + 4) + "\" y=\"" + std::to_string(y + 14) + "\">" + escape(ms_text(b.ms)) + "</text>";
  }
  return svg + "</svg>";
}

// One bar per migration, in chain order (the slowest 300 when there are more).
std::string durations(const nlohmann::json& migrations) {
  std::vector<std::pair<std::string, double>> ms;
  for (const auto& m : migrations) ms.emplace_back(text(m, "name"), m.contains("ms") && m["ms"].is_number() ? m["ms"].get<double>() : 0);
  std::string note;
  if (ms.size() > 300) {
    auto sorted = ms;
    std::nth_element(sorted.begin(), sorted.begin() + 299, sorted.end(), [](auto& a, auto& b) { return a.second > b.second; });
    const double cut = sorted[299].second;
    std::vector<std::pair<std::string, double>> kept;
    for (const auto& m : ms)
      if (m.second >= cut && kept.size() < 300) kept.push_back(m);
    note = "<p>The slowest " + std::to_string(kept.size()) + " of " + std::to_string(ms.size()) + " migrations.</p>";
    ms = kept;
  }
  double longest = 1;
  for (const auto& m : ms) longest = std::max(longest, m.second);
  const int row = 16, label = 340, width = 620;
  std::string svg = "<svg role=\"img\" aria-label=\"migration durations\" width=\"" + std::to_string(label + width + 90) +
                    "\" height=\"" + std::to_string(static_cast<int>(ms.size()) * row + 6) + "\">";
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const int y = static_cast<int>(i) * row + 2;
    const double w = std::max(1.0, ms[i].second / longest * width);
    svg += "<text x=\"0\" y=\"" + std::to_string(y + 11) + "\">" + escape(ms[i].first) + "</text>";
    svg += "<rect class=\"bar\" x=\"" + std::to_string(label) + "\" y=\"" + std::to_string(y) + "\" width=\"" + num(w) +
           "\" height=\"12\"><title>" + escape(ms[i].first + ": " + ms_text(ms[i].second)) + "</title></rect>";
    svg += "<text x=\"" + num(label + w + 4) + "\" y=\"" + std::to_string(y + 11) + "\">" + escape(ms_text(ms[i].second)) + "</text>";
  }
  return note + svg + "</svg>";
}

}  // namespace

std::string html(const nlohmann::json& rec) {
  const std::string status = text(rec, "status");
  std::string h =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>runbook " + escape(text(rec, "runbook")) +
      ": " + escape(status) + " (" + escape(text(rec, "run_id")) + ")</title><style>"
      "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d1d1d;background:#fff;max-width:1200px}"
      "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}"
      "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d0d0;padding:.25em .6em;text-align:left;vertical-align:top}"
      "th{background:#f3f3f3}code,pre{font-family:ui-monospace,monospace;font-size:.92em}pre{background:#f6f6f6;padding:.8em;overflow:auto}"
      ".b{padding:.1em .5em;border-radius:4px;font-weight:600;color:#fff}.b.ok{background:#2e7d32}.b.warn{background:#b26a00}.b.bad{background:#c62828}"
      "rect.ok{fill:#43a047}rect.warn{fill:#fb8c00}rect.bad{fill:#e53935}rect.bar{fill:#1e88e5}svg text{font-size:12px}"
      "</style></head><body>";
  h += "<h1>runbook " + escape(text(rec, "runbook")) + " " + badge(status) + "</h1>";
  std::vector<std::vector<std::string>> head;
  for (auto [label, key] : {std::pair{"Run", "run_id"}, {"Mode", "mode"}, {"Environment", "environment"},
                            {"Database", "database"}, {"Operator", "operator"}, {"Host", "host"},
                            {"Started", "started_at"}, {"Finished", "finished_at"}, {"Exit code", "exit_code"}})
    if (!text(rec, key).empty()) head.push_back({escape(label), escape(text(rec, key))});
  h += table({"", ""}, head);
  if (rec.contains("error")) h += "<h2>Error</h2><pre>" + escape(text(rec, "error")) + "</pre>";

  const auto failures = events_of(rec, "failure");
  if (!failures.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : failures)
      rows.push_back({"<code>" + escape(text(f, "migration")) + "</code>", escape(text(f, "file") + (f.contains("line") ? ":" + text(f, "line") : "")),
                      escape(text(f, "sqlstate")), "<code>" + escape(text(f, "sql")) + "</code>", badge(text(f, "status"))});
    h += "<h2>Failure</h2>" + table({"Migration", "File:line", "SQLSTATE", "Statement", "Status"}, rows);
  }

  h += "<h2>Steps</h2>" + timeline(rec);
  {
    std::vector<std::vector<std::string>> rows;
    int n = 0;
    for (const auto& s : rec["steps"])
      rows.push_back({std::to_string(++n), escape(text(s, "name")), badge(text(s, "status")),
                      s.contains("duration_ms") ? escape(ms_text(s["duration_ms"].get<double>())) : "",
                      escape(text(s, "error").empty() ? text(s, "reason") : text(s, "error"))});
    h += table({"#", "Step", "Status", "Time", "Note"}, rows);
  }

  const auto& migrations = rec.contains("migrations") ? rec["migrations"] : nlohmann::json::array();
  if (!migrations.empty()) {
    h += "<h2>Migrations (" + std::to_string(migrations.size()) + ")</h2>" + durations(migrations);
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : migrations)
      rows.push_back({"<code>" + escape(text(m, "name")) + "</code>", badge(text(m, "status")),
                      m.contains("ms") && m["ms"].is_number() ? escape(ms_text(m["ms"].get<double>())) : "",
                      "<code>" + escape(text(m, "sha256").substr(0, 16)) + "</code>"});
    h += "<details><summary>Every migration</summary>" + table({"Migration", "Status", "Time", "SHA-256"}, rows) + "</details>";
    std::vector<std::vector<std::string>> locks;
    for (const auto& m : migrations) {
      if (!m.contains("locks")) continue;
      for (const auto& l : m["locks"]) {
        if (l.value("created", false)) continue;  // its own new table: nobody waited on it
        bool rewritten = false;
        if (m.contains("rewritten"))
          for (const auto& r : m["rewritten"]) rewritten |= r == l.value("relation", "");
        locks.push_back({"<code>" + escape(text(m, "name")) + "</code>", "<code>" + escape(text(l, "relation")) + "</code>",
                         escape(text(l, "mode")), rewritten ? "rewritten" : "",
                         m.contains("ms") && m["ms"].is_number() ? escape(ms_text(m["ms"].get<double>())) : ""});
      }
    }
    h += "<h2>Locks on existing tables</h2>" +
         (locks.empty() ? std::string("<p>None recorded.</p>") : table({"Migration", "Relation", "Lock", "", "Held about"}, locks));
  }

  const auto findings = events_of(rec, "finding");
  if (!findings.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : findings)
      rows.push_back({escape(text(f, "file") + ":" + text(f, "line")), escape(text(f, "rule")),
                      escape(text(f, "severity") + (f.value("destructive", false) ? ", destructive" : "")), escape(text(f, "message"))});
    h += "<h2>Findings (" + std::to_string(findings.size()) + ")</h2>" + table({"Where", "Rule", "Severity", "Why"}, rows);
  }
  const auto acks = events_of(rec, "acknowledgement");
  if (!acks.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : acks) rows.push_back({"<code>" + escape(text(a, "finding")) + "</code>", escape(text(a, "how"))});
    h += "<h2>Acknowledged</h2>" + table({"Finding", "How"}, rows);
  }
  if (rec.contains("checks") && !rec["checks"].empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : rec["checks"]) rows.push_back({escape(text(c, "name")), badge(text(c, "result")), escape(text(c, "detail"))});
    h += "<h2>Checks</h2>" + table({"Check", "Result", "Detail"}, rows);
  }
  if (rec.contains("backups") && !rec["backups"].empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : rec["backups"])
      rows.push_back({"<code>" + escape(text(b, "path")) + "</code>", escape(text(b, "size")), "<code>" + escape(text(b, "sha256")) + "</code>"});
    h += "<h2>Backups</h2>" + table({"File", "Bytes", "SHA-256"}, rows);
  }
  return h + "</body></html>\n";
}

}  // namespace rb::report
