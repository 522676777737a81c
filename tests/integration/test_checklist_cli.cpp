// apply-prod's checklist (issue 12, part 1): the human items of seeds 001 and 004 are answered by
// a person, by name; --yes and --confirm never tick them. Every subset of the five items is
// walked: the run changes the database only when all five are ticked, and otherwise exits 3
// naming exactly the missing ones. The run record lists each item, who ticked it and how.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

using rbtest::CliResult;
using rbtest::TempDatabase;
using rbtest::TempDir;

namespace {
const std::vector<std::string> kItems{"approvals", "window", "stakeholders", "on-call", "rollback-plan"};

bool has(const CliResult& r, const std::string& s) { return r.all().find(s) != std::string::npos; }

int ledger_rows(const TempDatabase& db) {
  return std::stoi(rbtest::psql(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'")) == 0
             ? 0
             : std::stoi(rbtest::psql(db, "SELECT count(*) FROM public.schema_migrations"));
}

nlohmann::json checklist_event(const CliResult& r) {
  const auto all = rbtest::events_of(r.out, "checklist");
  REQUIRE(all.size() == 1);
  return all[0];
}
}  // namespace

TEST_CASE("apply-prod's checklist: every subset of the items; only all five let it change anything", "[cli][checklist]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  for (unsigned mask = 0; mask < (1u << kItems.size()) - 1; ++mask) {  // every subset but the full one
    std::vector<std::string> args{"--confirm", "PROD-OK", "--yes", "--json"};
    std::vector<std::string> missing;
    for (std::size_t i = 0; i < kItems.size(); ++i) {
      if (mask & (1u << i)) args.insert(args.end(), {"--check", kItems[i]});
      else missing.push_back(kItems[i]);
    }
    const auto r = rbtest::run_runbook(dir, db, "apply-prod.lua", args);
    INFO("ticked mask " << mask << "\n" << r.all());
    CHECK(r.code == 3);
    CHECK(has(r, "the checklist is not complete: " + std::to_string(missing.size()) + " item(s) not ticked"));
    for (std::size_t i = 0; i < kItems.size(); ++i)
      CHECK(has(r, "  - " + kItems[i] + ": ") == ((mask & (1u << i)) == 0));
    CHECK(ledger_rows(db) == 0);
    const auto e = checklist_event(r);
    CHECK(e["complete"] == false);
  }
  // All five, by name: it proceeds, and the record says who ticked each and how.
  std::vector<std::string> args{"--confirm", "PROD-OK", "--json"};
  for (const auto& i : kItems) args.insert(args.end(), {"--check", i});
  const auto ok = rbtest::run_runbook(dir, db, "apply-prod.lua", args, {{"RUNBOOK_OPERATOR", "jane"}});
  INFO(ok.all());
  REQUIRE(ok.code == 0);
  CHECK(ledger_rows(db) == 13);
  const auto e = checklist_event(ok);
  CHECK(e["complete"] == true);
  REQUIRE(e["items"].size() == kItems.size());
  for (std::size_t i = 0; i < kItems.size(); ++i) {
    CHECK(e["items"][i]["id"] == kItems[i]);
    CHECK(e["items"][i]["ticked"] == true);
    CHECK(e["items"][i]["how"] == "--check");
    CHECK(e["items"][i]["by"].get<std::string>().rfind("jane@", 0) == 0);
  }
  CHECK(has(ok, "[x] On-call engineer available for the window (on-call)"));
}

TEST_CASE("checklist: --yes answers none; a file answers them with who; a typo is refused", "[cli][checklist]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  const auto yes = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--confirm", "PROD-OK", "--yes"});
  INFO(yes.all());
  CHECK(yes.code == 3);
  CHECK(has(yes, "5 item(s) not ticked"));
  CHECK(has(yes, "--check approvals --check window --check stakeholders --check on-call --check rollback-plan"));

  const auto typo = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--confirm", "PROD-OK", "--check", "oncall"});
  CHECK(typo.code == 2);
  CHECK(has(typo, "--check names oncall, which is not an item of this run's checklist (items: approvals, window, "
                  "stakeholders, on-call, rollback-plan)"));

  dir.write("bad-checklist.txt", "approvals\nthe window is booked\n");
  const auto bad = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--confirm", "PROD-OK", "--checklist", dir.path() + "/bad-checklist.txt"});
  CHECK(bad.code == 2);
  CHECK(has(bad, "bad-checklist.txt:2: expected an item id"));
  CHECK(ledger_rows(db) == 0);

  dir.write("checklist.txt", "# release 2211\napprovals: Jane Roe (Engineering), Sam Poe (SRE)\nwindow: Jane Roe\n"
                             "stakeholders\non-call: Sam Poe\nrollback-plan: Jane Roe\n");
  const auto file = rbtest::run_runbook(dir, db, "apply-prod.lua",
                                        {"--confirm", "PROD-OK", "--checklist", dir.path() + "/checklist.txt", "--json"});
  INFO(file.all());
  REQUIRE(file.code == 0);
  const auto e = checklist_event(file);
  CHECK(e["items"][0]["by"] == "Jane Roe (Engineering), Sam Poe (SRE)");
  CHECK(e["items"][0]["how"] == "checklist file " + dir.path() + "/checklist.txt");
  CHECK(e["items"][3]["by"] == "Sam Poe");
  // The run record has the same checklist event, and its Markdown is fit to read.
  bool recorded = false;
  const auto rec = rbtest::record_of(file.out);
  for (const auto& step : rec["steps"])
    for (const auto& ev : step["events"])
      if (ev["event"] == "checklist") recorded = ev["items"].size() == 5;
  CHECK(recorded);
}

TEST_CASE("checklist: an environment's own items replace the composition's; dry-run only says what is missing", "[cli][checklist]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  dir.write("environments.lua", "return { prod = { database_env = 'PROD_URL', confirm = 'PROD-OK',\n"
                                "  checklist = { { id = 'cab', text = 'Change advisory board approved CHG' }, 'Customer support told' } } }\n");
  const std::map<std::string, std::string> env{{"PROD_URL", db.url()}};
  const auto dry = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--env", "prod", "--dry-run"}, env);
  INFO(dry.all());
  CHECK(dry.code == 0);
  CHECK(has(dry, "would ask: [ ] Change advisory board approved CHG (cab)"));
  CHECK(has(dry, "would ask: [ ] Customer support told (customer-support-told)"));
  CHECK(has(dry, "a live run stops here"));
  const auto one = rbtest::run_runbook(dir, db, "apply-prod.lua", {"--env", "prod", "--confirm", "PROD-OK", "--check", "cab"}, env);
  CHECK(one.code == 3);
  CHECK(has(one, "  - customer-support-told: Customer support told"));
  CHECK_FALSE(has(one, "approvals"));
  const auto both = rbtest::run_runbook(dir, db, "apply-prod.lua",
                                        {"--env", "prod", "--confirm", "PROD-OK", "--check", "cab", "--check", "customer-support-told"}, env);
  INFO(both.all());
  CHECK(both.code == 0);
  CHECK(ledger_rows(db) == 13);
}

// At a terminal (script(1) gives the run one): each item is asked and ticked with y; a refusal
// stops the run before anything changes. The answers are typed one by one, as a person would.
TEST_CASE("checklist at a terminal: each item asked and ticked; n stops the run", "[cli][checklist][terminal]") {
  TempDir dir;
  TempDatabase db;
  rbtest::copy_sample_chain(dir);
  auto on_terminal = [&](const std::string& answers) {
    const std::string cmd = "cd '" + dir.path() + "' && DATABASE_URL='" + db.url() + "' NO_COLOR=1 '" + rbtest::runbook_binary() +
                            "' apply-prod.lua --json --journal '" + dir.path() + "/journal' > '" + dir.path() + "/events.ndjson'";
    // The answers go in line by line (a newline is typed after each), then time for the run.
    std::string feed = "(";
    std::string line;
    for (const char c : answers) {
      if (c == '\n') {
        feed += "sleep 0.4; printf '" + line + "\\n'; ";
        line.clear();
      } else {
        line += c;
      }
    }
    feed += "sleep 10)";
    return rbtest::sh(feed + " | timeout 60 script -qec \"" + cmd + "\" /dev/null");
  };
  const std::string refused = on_terminal("y\ny\nn\n");
  INFO(refused);
  CHECK(refused.find("[ ] Maintenance window scheduled (window) — done? [y/N]") != std::string::npos);
  const auto r1 = rbtest::events_of(rbtest::read_file(dir.path() + "/events.ndjson"), "end");
  REQUIRE(r1.size() == 1);
  CHECK(r1[0]["exit_code"] == 3);
  CHECK(r1[0]["error"].get<std::string>().find("Stakeholders notified") != std::string::npos);
  CHECK(ledger_rows(db) == 0);

  const std::string ticked = on_terminal("y\ny\ny\ny\ny\nPROD-OK\n");
  INFO(ticked);
  const auto events = rbtest::read_file(dir.path() + "/events.ndjson");
  const auto end = rbtest::events_of(events, "end");
  REQUIRE(end.size() == 1);
  CHECK(end[0]["exit_code"] == 0);
  const auto list = rbtest::events_of(events, "checklist");
  REQUIRE(list.size() == 1);
  for (const auto& item : list[0]["items"]) CHECK(item["how"] == "terminal");
  CHECK(ledger_rows(db) == 13);
}
