#include "engine/notify.hpp"

#include "engine/errors.hpp"
#include "engine/http.hpp"

namespace rb::notify {

void validate(const Target& t, const std::string& where) {
  if (t.url.rfind("http://", 0) != 0 && t.url.rfind("https://", 0) != 0)
    throw ConfigError(where + ": url must be an http:// or https:// URL");
  if (t.format != "json" && t.format != "slack")
    throw ConfigError(where + ": format must be \"json\" or \"slack\", got \"" + t.format + "\"");
  if (t.on.empty()) throw ConfigError(where + ": on must name at least one of start, success, failure");
  for (const auto& e : t.on)
    if (e != "start" && e != "success" && e != "failure")
      throw ConfigError(where + ": on: unknown event \"" + e + "\" (known: start, success, failure)");
}

std::string shown_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return "(not a URL)";
  const auto path = url.find('/', scheme + 3);
  std::string host = url.substr(0, path);
  if (const auto at = host.find('@', scheme + 3); at != std::string::npos) host = host.substr(0, scheme + 3) + host.substr(at + 1);
  return host + (path == std::string::npos ? "" : "/…");
}

std::string body(const Target& t, const Message& m) {
  if (t.format == "slack") {
    const char* mark = m.event == "start" ? ":hourglass_flowing_sand:" : m.event == "success" ? ":white_check_mark:" : ":x:";
    std::string text = std::string(mark) + " " + m.summary + " (run " + m.run_id + (m.record.empty() ? "" : ", record " + m.record) + ")";
    return nlohmann::json{{"text", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  nlohmann::json j{{"event", m.event},   {"run_id", m.run_id}, {"runbook", m.runbook}, {"environment", m.environment},
                   {"mode", m.mode},     {"status", m.status}, {"summary", m.summary}, {"record", m.record}};
  if (m.exit_code >= 0) j["exit_code"] = m.exit_code;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Delivery send(const Target& t, const Message& m) {
  HttpRequest req;
  req.method = "POST";
  req.url = t.url;
  req.headers = {{"Content-Type", "application/json"}};
  req.body = body(t, m);
  req.timeout_s = 5;
  req.retries = 2;
  req.retry_interval_s = 1;
  const auto r = http_perform(req);
  Delivery d;
  d.url = shown_url(t.url);
  d.attempts = r.attempts;
  d.status = r.status;
  d.delivered = r.error.empty() && !r.cancelled && r.status >= 200 && r.status < 300;
  if (!r.error.empty()) d.error = r.error;
  else if (r.cancelled) d.error = "the run was interrupted";
  else if (!d.delivered) d.error = "HTTP " + std::to_string(r.status);
  return d;
}

nlohmann::json to_json(const Delivery& d, const std::string& event) {
  nlohmann::json j{{"url", d.url}, {"on", event}, {"delivered", d.delivered}, {"attempts", d.attempts}};
  if (d.status) j["status"] = d.status;
  if (!d.error.empty()) j["error"] = d.error;
  return j;
}

}  // namespace rb::notify
