#pragma once
// Notifications (issue 12, part 3; seeds 001/004: the status page and the chat channel told at
// the start and at the end): one HTTP POST per event to each of the environment's webhooks that
// asked for it. Delivery is retried and bounded in time, and never fails or blocks the change:
// what could not be delivered is a warning and a record entry.
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rb::notify {

struct Target {
  std::string url;
  std::set<std::string> on{"start", "success", "failure"};
  std::string format = "json";  // "json" (the message as an object) or "slack" ({"text": ...})
};

struct Message {
  std::string event;  // "start", "success", "failure"
  std::string run_id, runbook, environment, mode, status, summary, record;
  int exit_code = -1;  // -1 at the start
};

// Validates a target from the environments file; throws rb::ConfigError naming what is wrong.
void validate(const Target& target, const std::string& where);
// The request body for `target`'s format.
std::string body(const Target& target, const Message& message);
// The URL as output shows it: scheme and host only (a webhook's path is often its secret).
std::string shown_url(const std::string& url);

struct Delivery {
  std::string url;  // shown_url
  bool delivered = false;
  int attempts = 0;
  long status = 0;
  std::string error;
};

// POSTs the message: 5 s per attempt, 3 attempts on a transport error or a 5xx, 1 s apart.
// Never throws.
Delivery send(const Target& target, const Message& message);

nlohmann::json to_json(const Delivery& d, const std::string& event);

}  // namespace rb::notify
