#include "engine/checklist.hpp"

#include <cctype>
#include <sstream>

#include "engine/errors.hpp"

namespace rb::checklist {

namespace {
std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}
}  // namespace

std::string id_of_text(const std::string& text) {
  std::string id;
  for (unsigned char c : text) {
    if (std::isalnum(c)) id += static_cast<char>(std::tolower(c));
    else if (!id.empty() && id.back() != '-') id += '-';
  }
  while (!id.empty() && id.back() == '-') id.pop_back();
  return id;
}

std::vector<Item> normalise(const std::vector<Item>& items) {
  std::vector<Item> out;
  std::set<std::string> seen;
  for (auto item : items) {
    if (item.text.empty()) item.text = item.id;
    if (item.id.empty()) item.id = id_of_text(item.text);
    if (item.id.empty()) throw ConfigError("checklist: an item has neither an id nor a text");
    if (!seen.insert(item.id).second) throw ConfigError("checklist: the item id " + item.id + " is used twice");
    out.push_back(std::move(item));
  }
  return out;
}

std::map<std::string, std::string> parse_file(const std::string& path, const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    line = trim(line);
    if (line.empty()) continue;
    std::string id = line, who;
    if (const auto colon = line.find(':'); colon != std::string::npos) {
      id = trim(line.substr(0, colon));
      who = trim(line.substr(colon + 1));
    }
    if (id.empty() || id.find_first_of(" \t") != std::string::npos)
      throw ConfigError(path + ":" + std::to_string(n) + ": expected an item id, optionally followed by ': who ticked it', got \"" +
                        line + "\"");
    out[id] = who;
  }
  return out;
}

Outcome resolve(const std::vector<Item>& items, const Answers& answers, const std::string& operator_name,
                const std::function<bool(const Item&)>& ask) {
  std::set<std::string> known;
  std::string ids;
  for (const auto& i : items) {
    known.insert(i.id);
    ids += (ids.empty() ? "" : ", ") + i.id;
  }
  auto refuse_unknown = [&](const std::string& id, const std::string& where) {
    if (!known.count(id))
      throw ConfigError(where + " names " + id + ", which is not an item of this run's checklist" +
                        (ids.empty() ? " (it has none)" : " (items: " + ids + ")"));
  };
  for (const auto& id : answers.checks) refuse_unknown(id, "--check");
  for (const auto& [id, who] : answers.in_file) refuse_unknown(id, "the checklist file " + answers.file);
  Outcome out;
  for (const auto& item : items) {
    if (answers.checks.count(item.id)) {
      out.ticked.push_back({item.id, item.text, operator_name, "--check"});
    } else if (auto it = answers.in_file.find(item.id); it != answers.in_file.end()) {
      out.ticked.push_back({item.id, item.text, it->second.empty() ? operator_name : it->second,
                            "checklist file " + answers.file});
    } else if (ask && ask(item)) {
      out.ticked.push_back({item.id, item.text, operator_name, "terminal"});
    } else {
      out.missing.push_back(item);
    }
  }
  return out;
}

std::string missing_message(const std::vector<Item>& missing) {
  std::string msg = "the checklist is not complete: " + std::to_string(missing.size()) + " item(s) not ticked:";
  std::string checks;
  for (const auto& m : missing) {
    msg += "\n  - " + m.id + ": " + m.text;
    checks += " --check " + m.id;
  }
  return msg + "\n  A person answers each: at a terminal, or with" + checks +
         " (or a --checklist FILE naming them); --yes and --confirm never do. Nothing was changed.";
}

nlohmann::json to_json(const Outcome& o) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& t : o.ticked) items.push_back({{"id", t.id}, {"text", t.text}, {"ticked", true}, {"by", t.by}, {"how", t.how}});
  for (const auto& m : o.missing) items.push_back({{"id", m.id}, {"text", m.text}, {"ticked", false}});
  return {{"items", items}, {"complete", o.missing.empty()}};
}

}  // namespace rb::checklist
