#include "engine/parity_report.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/html.hpp"
#include "engine/journal.hpp"

namespace fs = std::filesystem;

namespace rb::parity_report {

namespace {

nlohmann::json names(const nlohmann::json& list, std::size_t limit, bool& truncated) {
  nlohmann::json out = nlohmann::json::array();
  if (!list.is_array()) return out;
  for (const auto& v : list) {
    if (out.size() >= limit) {
      truncated = true;
      break;
    }
    out.push_back(v);
  }
  return out;
}

std::size_t count(const nlohmann::json& list) { return list.is_array() ? list.size() : 0; }

}  // namespace

nlohmann::json response(const std::string& env, const nlohmann::json& st, std::size_t limit) {
  bool truncated = false;
  nlohmann::json missing = nlohmann::json::array();
  for (const char* key : {"missing_in_db", "pending"})
    if (st.contains(key) && st[key].is_array())
      for (const auto& n : st[key]) missing.push_back(n);
  nlohmann::json mismatches = nlohmann::json::array();
  if (st.contains("hash_mismatches") && st["hash_mismatches"].is_array())
    for (const auto& m : st["hash_mismatches"])
      mismatches.push_back({{"filename", m.value("filename", "")},
                            {"dbSha256", m.value("ledger_sha256", "")},
                            {"fileSha256", m.value("file_sha256", "")}});
  const nlohmann::json extra = st.value("extra_in_db", nlohmann::json::array());
  const nlohmann::json dirty = st.value("dirty", nlohmann::json::array());
  const nlohmann::json drift = st.value("drift", nlohmann::json::array());
  const bool pass = missing.empty() && count(extra) == 0 && mismatches.empty() && count(dirty) == 0 && count(drift) == 0;
  nlohmann::json r{
      {"env", env},
      {"parity",
       {{"status", pass ? "PASS" : "FAIL"},
        {"applied", st.value("applied", 0)},
        {"pending", count(st.value("pending", nlohmann::json::array()))},
        {"problems", missing.size() + count(extra) + mismatches.size() + count(dirty)}}},
      {"missingInDb", names(missing, limit, truncated)},
      {"extraInDb", names(extra, limit, truncated)},
      {"hashMismatches", names(mismatches, limit, truncated)},
      {"dirty", names(dirty, limit, truncated)},
      {"drift", names(drift, limit, truncated)},
      {"lastApplied", st.value("last_applied", nlohmann::json(nullptr))},
      {"lockHolder", st.value("lock_holder", nlohmann::json(nullptr))},
      {"lastRun", st.value("last_run", nlohmann::json(nullptr))},
      {"limit", limit},
      {"truncated", truncated},
      {"checkedAt", utc_now_iso()},
  };
  return r;
}

std::vector<nlohmann::json> recent_runs(const std::string& journal_dir, const std::string& env, std::size_t limit) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(journal_dir, ec))
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  // Run ids sort by time: the newest first, without reading the others.
  std::sort(files.rbegin(), files.rend());
  std::vector<nlohmann::json> out;
  for (const auto& f : files) {
    if (out.size() >= limit) break;
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto rec = nlohmann::json::parse(ss.str(), nullptr, false);
    if (rec.is_discarded() || !rec.is_object() || !rec.contains("run_id")) continue;
    if (!env.empty() && rec.value("environment", "") != env) continue;
    nlohmann::json h;
    for (const char* k : {"run_id", "runbook", "environment", "mode", "status", "exit_code", "started_at", "finished_at",
                          "database", "operator"})
      if (rec.contains(k)) h[k] = rec[k];
    h["migrations"] = rec.contains("migrations") && rec["migrations"].is_array() ? rec["migrations"].size() : 0;
    out.push_back(std::move(h));
  }
  return out;
}

namespace {

std::string text_of(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string list_item(const std::string& label, const nlohmann::json& list) {
  if (!list.is_array() || list.empty()) return "";
  std::string out = "<p><b>" + html::escape(label) + "</b></p><ul>";
  for (const auto& v : list)
    out += "<li><code>" + html::escape(v.is_object() ? v.value("filename", text_of(v)) : text_of(v)) + "</code></li>";
  return out + "</ul>";
}

}  // namespace

std::string page(const std::vector<nlohmann::json>& environments, const std::vector<nlohmann::json>& runs) {
  std::string h =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"60\">"
      "<title>runbook: migration parity</title><style>"
      "body{font:15px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fff}"
      "h1{font-size:1.4em}section{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}"
      ".PASS{background:#2e7d32;color:#fff}.FAIL{background:#c62828;color:#fff}.ERROR{background:#6d4c41;color:#fff}"
      ".badge{padding:.15em .6em;border-radius:4px;font-weight:bold}"
      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
      "</style></head><body><h1>Migration parity</h1>";
  for (const auto& e : environments) {
    const std::string env = e.value("env", "");
    h += "<section><h2>" + html::escape(env.empty() ? "(default environment)" : env) + " ";
    if (e.contains("error")) {
      h += "<span class=\"badge ERROR\">ERROR</span></h2><pre>" + html::escape(text_of(e["error"])) + "</pre></section>";
      continue;
    }
    const auto& p = e["parity"];
    const std::string status = p.value("status", "FAIL");
    h += "<span class=\"badge " + status + "\">" + status + "</span></h2>";
    h += "<p>" + std::to_string(p.value("applied", 0)) + " applied, " + std::to_string(p.value("pending", 0)) +
         " pending; last applied <code>" + html::escape(text_of(e.value("lastApplied", nlohmann::json()))) +
         "</code>; migration lock " +
         html::escape(e.value("lockHolder", nlohmann::json()).is_null() ? "free" : "held by " + text_of(e["lockHolder"])) +
         "; checked " + html::escape(e.value("checkedAt", "")) + "</p>";
    h += list_item("Missing in the database", e.value("missingInDb", nlohmann::json()));
    h += list_item("In the database, not in the files", e.value("extraInDb", nlohmann::json()));
    h += list_item("Edited after being applied", e.value("hashMismatches", nlohmann::json()));
    h += list_item("Dirty (failed part-way)", e.value("dirty", nlohmann::json()));
    h += "</section>";
  }
  h += "<h2>Recent runs</h2>";
  if (runs.empty()) {
    h += "<p>No run records.</p>";
  } else {
    h += "<table><tr><th>Started</th><th>Runbook</th><th>Environment</th><th>Mode</th><th>Status</th><th>Exit</th>"
         "<th>Migrations</th><th>Run</th></tr>";
    for (const auto& r : runs) {
      h += "<tr>";
      for (const char* k : {"started_at", "runbook", "environment", "mode", "status", "exit_code", "migrations", "run_id"})
        h += "<td>" + html::escape(text_of(r.value(k, nlohmann::json()))) + "</td>";
      h += "</tr>";
    }
    h += "</table>";
  }
  return h + "</body></html>\n";
}

}  // namespace rb::parity_report
