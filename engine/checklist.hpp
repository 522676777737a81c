#pragma once
// The human items of a change (seeds 001 and 004: approvals obtained, window scheduled,
// stakeholders notified, on-call available, rollback plan ready): a machine cannot check them,
// so a person answers each one by name. --yes and --confirm never do; at a terminal the operator
// ticks each, in CI each is named with --check ID or in a --checklist file.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rb::checklist {

struct Item {
  std::string id;    // what --check names: "approvals", "on-call"
  std::string text;  // what the operator reads
};

// The answers given before the run: --check ID (repeatable) and --checklist FILE.
struct Answers {
  std::set<std::string> checks;                // --check
  std::string file;                            // --checklist FILE ("" none)
  std::map<std::string, std::string> in_file;  // id -> who, from the file ("" when not said)
};

// A --checklist file: one item per line, `ID` or `ID: who ticked it`; `#` starts a comment.
// Throws rb::ConfigError naming the file and line of a malformed line.
std::map<std::string, std::string> parse_file(const std::string& path, const std::string& text);

struct Tick {
  std::string id, text, by, how;  // how: "--check", "checklist file F", "terminal"
};

struct Outcome {
  std::vector<Tick> ticked;
  std::vector<Item> missing;  // not answered (no terminal, or dry-run)
};

// Items from Lua-side data ({ "text" } or { id = , text = }): an item without an id gets one
// from its text ("On-call available" -> "on-call-available"). Throws ConfigError on duplicates.
std::vector<Item> normalise(const std::vector<Item>& items);
std::string id_of_text(const std::string& text);

// Answers every item: from --check, then the file, then `ask` (a terminal: true ticks, false is
// "no terminal", a refusal throws AbortError). --check or file entries naming no item are a
// ConfigError (a typo must not pass for a tick). `operator_name` is who ticks by --check and
// at the terminal.
Outcome resolve(const std::vector<Item>& items, const Answers& answers, const std::string& operator_name,
                const std::function<bool(const Item&)>& ask);

// "checklist not complete: ..." with the missing items and how to answer them.
std::string missing_message(const std::vector<Item>& missing);

nlohmann::json to_json(const Outcome& outcome);

}  // namespace rb::checklist
