#include "engine/plan.hpp"

#include <algorithm>
#include <filesystem>
#include <map>

#include "engine/errors.hpp"
#include "engine/hash.hpp"
#include "engine/shell.hpp"

namespace rb::migrations {

const char* to_string(PlanKind kind) { return kind == PlanKind::apply ? "apply" : "rollback"; }

const char* to_string(TxMode mode) {
  switch (mode) {
    case TxMode::transactional: return "transactional";
    case TxMode::no_transaction: return "no-transaction";
    case TxMode::own: return "own-transaction";
  }
  return "?";
}

namespace {

int backup_rank(const std::string& v) {
  if (v == "skip") return 0;
  if (v == "optional") return 1;
  if (v == "required") return 2;
  throw ConfigError("backup policy must be \"required\", \"optional\" or \"skip\", got \"" + v + "\"");
}

bool has_sql(const std::string& s) { return s.find_first_not_of(" \t\r\n") != std::string::npos; }

PlannedMigration planned(const Migration& m, bool rollback, int server_version, bool gap) {
  PlannedMigration p;
  p.name = m.name;
  p.version = m.version;
  p.sha256 = m.sha256;
  p.path = rollback ? (m.down_path.empty() ? m.up_path : m.down_path) : m.up_path;
  p.sql = rollback ? m.down_sql : m.up_sql;
  p.gap = gap;
  p.script = sql::analyze(p.sql, p.path, server_version);
  // The layout's directive (sqlx -- no-transaction, diesel run_in_transaction = false, dbmate
  // transaction:false) applies to the up script only.
  const bool directive = !rollback && !m.no_transaction.empty();
  p.tx = p.script.manages_own_transaction                 ? TxMode::own
         : p.script.needs_no_transaction || directive     ? TxMode::no_transaction
                                                          : TxMode::transactional;
  for (auto& f : sql::lint(p.script, p.path)) {
    // create-extension is a question for the server (is it available?), not a finding to
    // acknowledge: the plan lists the extensions instead.
    if (f.rule == "create-extension") continue;
    // A rollback's finding is in the down script: --ack names that file.
    Finding finding{f, f.rule + "@" + (rollback ? std::filesystem::path(p.path).filename().string() : m.name)};
    p.findings.push_back(std::move(finding));
  }
  p.extensions = p.script.extensions_created;
  return p;
}

}  // namespace

std::string stricter_backup(const std::string& a, const std::string& b) {
  return backup_rank(b) > backup_rank(a) ? b : a;
}

bool loosens(const std::string& key, const std::string& from, const std::string& to) {
  if (key == "backup") return backup_rank(to) < backup_rank(from);
  if (key == "confirm") return !from.empty() && from != "false" && (to.empty() || to == "false");
  // Booleans: acknowledge_destructive, maintenance.
  return from == "true" && to != "true";
}

std::string DatabaseIdentity::text() const {
  std::string t = name + " on " + (server.empty() ? "the local socket" : server);
  if (!system_identifier.empty()) t += " (system " + system_identifier + ")";
  return t;
}

std::vector<const Finding*> Plan::destructive() const {
  std::vector<const Finding*> out;
  for (const auto& m : migrations)
    for (const auto& f : m.findings)
      if (f.lint.destructive) out.push_back(&f);
  return out;
}

std::string ledger_fingerprint(const std::vector<LedgerRow>& rows) {
  std::vector<std::string> lines;
  lines.reserve(rows.size());
  for (const auto& r : rows) lines.push_back(r.filename + "\t" + r.sha256 + "\t" + r.status);
  std::sort(lines.begin(), lines.end());
  Sha256 h;
  for (const auto& l : lines) {
    h.update(l);
    h.update("\n");
  }
  return h.hex_digest();
}

Plan make_plan(const Chain& chain, const std::vector<LedgerRow>& ledger, const std::string& ledger_name,
               const PlanOptions& o, const Policy& policy) {
  Plan plan;
  plan.kind = o.kind;
  plan.options = o;
  plan.directory = chain.directory;
  plan.ledger = ledger_name;
  plan.ledger_fingerprint = ledger_fingerprint(ledger);
  plan.ledger_rows = ledger.size();
  plan.server_version = o.server_version;
  plan.policy = policy;
  plan.status = compute_status(chain, ledger);
  plan.drift = plan.status.drift_messages();
  const Status& st = plan.status;
  const Migration* base = chain.migrations.data();

  if (o.kind == PlanKind::apply) {
    int last = static_cast<int>(chain.migrations.size()) - 1;
    if (!o.target.empty()) {
      last = chain.index_of(o.target);
      if (last < 0) throw ConfigError("target " + o.target + " is not a migration in " + chain.directory);
    }
    std::vector<std::pair<const Migration*, bool>> todo;
    for (const auto* m : st.pending)
      if (m - base <= last) todo.emplace_back(m, false);
    // A gap is applied only when drift is allowed deliberately — and then it is part of the
    // plan like any other migration: confirmed, backed up, acknowledged.
    if (o.allow_drift)
      for (const auto* m : st.missing_in_db)
        if (m - base <= last) todo.emplace_back(m, true);
    std::sort(todo.begin(), todo.end());
    for (const auto& [m, gap] : todo) plan.migrations.push_back(planned(*m, false, o.server_version, gap));
    return plan;
  }

  // Rollback: the newest applied migrations the request names, newest first.
  std::vector<const Migration*> chosen;
  if (!o.to.empty()) {
    const int stop = chain.index_of(o.to);
    if (stop < 0) throw ConfigError("rollback target " + o.to + " is not a migration in " + chain.directory);
    for (auto it = st.applied.rbegin(); it != st.applied.rend(); ++it)
      if (*it - base > stop) chosen.push_back(*it);
  } else {
    if (o.count < 1) throw ConfigError("rollback count must be at least 1, got " + std::to_string(o.count));
    if (static_cast<std::size_t>(o.count) > st.applied.size())
      throw ConfigError("cannot roll back " + std::to_string(o.count) + " migration(s): only " +
                        std::to_string(st.applied.size()) + " applied");
    for (auto it = st.applied.rbegin(); it != st.applied.rend() && static_cast<int>(chosen.size()) < o.count; ++it)
      chosen.push_back(*it);
  }
  for (const auto* m : chosen)
    if (!has_sql(m->down_sql)) plan.missing_down.push_back(m->name);
  for (const auto* m : chosen) plan.migrations.push_back(planned(*m, true, o.server_version, false));
  return plan;
}

std::vector<std::string> unmet_requirements(const Plan& plan, const Consent& c) {
  std::vector<std::string> out;
  if (plan.empty()) return out;
  if (!c.confirmed)
    out.push_back(plan.policy.confirm_token.empty()
                      ? "confirmation: answer the question at a terminal or pass --yes"
                      : "confirmation: type " + plan.policy.confirm_token + " at a terminal or pass --confirm " +
                            plan.policy.confirm_token);
  if (plan.policy.acknowledge_destructive)
    for (const auto* f : plan.destructive())
      if (!c.acknowledged.count(f->id))
        out.push_back("acknowledgement of destructive SQL: " + f->lint.file + ":" + std::to_string(f->lint.line) +
                      " [" + f->lint.rule + "] — answer at a terminal or pass --ack " + f->id);
  if (plan.kind == PlanKind::apply && plan.policy.backup == "required" &&
      !(c.backup_taken && c.backup.plan_id == plan.id()))
    out.push_back("a verified backup taken in this run for this plan (the backup step)");
  for (const auto& item : plan.policy.checklist)
    if (!c.checklist_ticked.count(item.id))
      out.push_back("checklist: " + item.text + " — tick it at a terminal or pass --check " + item.id);
  if (plan.policy.approvals.required > 0 && !c.approvals_met)
    out.push_back("approvals: " + std::to_string(plan.policy.approvals.required) +
                  " distinct approvers of exactly this plan (runbook approve.lua --set plan=FILE, then --plan FILE)");
  if (plan.policy.maintenance && !c.maintenance)
    out.push_back("maintenance: the pause step (pause workers, maintenance on) must run first");
  return out;
}

nlohmann::json to_json(const Plan& plan) {
  nlohmann::json j;
  j["format"] = "runbook-plan/1";
  j["kind"] = to_string(plan.kind);
  j["directory"] = plan.directory;
  j["ledger"] = plan.ledger;
  j["ledger_fingerprint"] = plan.ledger_fingerprint;
  j["ledger_rows"] = plan.ledger_rows;
  j["server_version"] = plan.server_version;
  j["database"] = {{"name", plan.database.name},
                   {"system_identifier", plan.database.system_identifier},
                   {"server", plan.database.server}};
  j["options"] = {{"target", plan.options.target},
                  {"allow_drift", plan.options.allow_drift},
                  {"count", plan.options.count},
                  {"to", plan.options.to}};
  j["policy"] = {{"confirm_token", plan.policy.confirm_token},
                 {"backup", plan.policy.backup},
                 {"acknowledge_destructive", plan.policy.acknowledge_destructive},
                 {"maintenance", plan.policy.maintenance},
                 {"loosened", plan.policy.loosened}};
  j["drift"] = plan.drift;
  j["migrations"] = nlohmann::json::array();
  for (const auto& m : plan.migrations) {
    nlohmann::json findings = nlohmann::json::array();
    for (const auto& f : m.findings)
      findings.push_back({{"id", f.id}, {"rule", f.lint.rule}, {"line", f.lint.line},
                          {"severity", f.lint.severity}, {"destructive", f.lint.destructive},
                          {"message", f.lint.message}});
    j["migrations"].push_back({{"name", m.name}, {"version", m.version}, {"path", m.path},
                               {"sha256", m.sha256}, {"script_sha256", sha256_hex(m.sql)},
                               {"transaction", to_string(m.tx)}, {"gap", m.gap},
                               {"statements", m.script.statements.size()}, {"extensions", m.extensions},
                               {"findings", findings}});
  }
  j["id"] = plan.id();
  return j;
}

std::string Plan::id() const {
  // What would change and under which conditions; not when or where the plan was printed.
  Sha256 h;
  h.update(to_string(kind));
  h.update("\n" + ledger + "\n" + ledger_fingerprint + "\n" + database.name + "\n" + database.system_identifier + "\n");
  for (const auto& m : migrations) h.update(m.name + "\t" + m.sha256 + "\t" + sha256_hex(m.sql) + "\n");
  h.update(policy.confirm_token + "\t" + policy.backup + "\t" + (policy.acknowledge_destructive ? "ack" : "") + "\t" +
           (policy.maintenance ? "maintenance" : ""));
  return h.hex_digest();
}

std::vector<std::string> differences(const nlohmann::json& saved, const Plan& current) {
  std::vector<std::string> out;
  if (!saved.is_object() || saved.value("format", "") != "runbook-plan/1") {
    out.push_back("the file is not a saved runbook plan (format runbook-plan/1)");
    return out;
  }
  const auto now = to_json(current);
  auto text = [](const nlohmann::json& j, const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  if (text(saved, "kind") != text(now, "kind"))
    out.push_back("the plan is a " + text(saved, "kind") + " plan, this run makes a " + text(now, "kind") + " plan");
  const auto& sd = saved.value("database", nlohmann::json::object());
  if (sd.value("name", "") != current.database.name ||
      (!sd.value("system_identifier", "").empty() && !current.database.system_identifier.empty() &&
       sd.value("system_identifier", "") != current.database.system_identifier))
    out.push_back("another database: the plan was made for " + sd.value("name", "?") + " (system " +
                  sd.value("system_identifier", "?") + "), this run is connected to " + current.database.text());
  if (text(saved, "ledger") != current.ledger)
    out.push_back("another ledger: the plan uses " + text(saved, "ledger") + ", this run " + current.ledger);
  else if (text(saved, "ledger_fingerprint") != current.ledger_fingerprint)
    out.push_back("the ledger changed since the plan was made (" + std::to_string(saved.value("ledger_rows", 0)) +
                  " row(s) then, " + std::to_string(current.ledger_rows) +
                  " now): another run applied, rolled back or resolved something");
  std::map<std::string, const nlohmann::json*> then;
  const nlohmann::json saved_migrations = saved.value("migrations", nlohmann::json::array());
  for (const auto& m : saved_migrations)
    if (m.is_object()) then[m.value("name", "")] = &m;
  std::set<std::string> seen;
  for (const auto& m : current.migrations) {
    seen.insert(m.name);
    auto it = then.find(m.name);
    if (it == then.end()) {
      out.push_back(m.path + " would run now but is not in the plan");
      continue;
    }
    if (it->second->value("sha256", "") != m.sha256 || it->second->value("script_sha256", "") != sha256_hex(m.sql))
      out.push_back(m.path + " was edited since the plan was made (sha256 " +
                    it->second->value("sha256", "").substr(0, 12) + "… then, " + m.sha256.substr(0, 12) + "… now)");
  }
  for (const auto& [name, m] : then)
    if (!seen.count(name)) out.push_back(m->value("path", name) + " is in the plan but would not run now");
  const auto& sp = saved.value("policy", nlohmann::json::object());
  if (sp.value("confirm_token", "") != current.policy.confirm_token || sp.value("backup", "") != current.policy.backup ||
      sp.value("acknowledge_destructive", false) != current.policy.acknowledge_destructive ||
      sp.value("maintenance", false) != current.policy.maintenance)
    out.push_back("the policy differs from the plan's (confirmation, backup, acknowledgement or maintenance)");
  return out;
}

BackupProof verify_backup(const std::string& path) {
  Command cmd;
  cmd.argv = {"pg_restore", "--list", path};
  cmd.timeout_s = 600;
  cmd.capture_limit = std::size_t(64) << 20;
  const auto r = run_command(cmd);
  if (r.exit_code != 0 || r.out.find("; Archive created at") == std::string::npos)
    throw StepError("backup " + path + " is not a readable pg_dump custom-format archive (pg_restore --list: " +
                    (r.err.empty() ? "exit " + std::to_string(r.exit_code) : r.err.substr(0, 300)) + ")");
  // The table of contents is at the start of the archive: a dump cut short (disk full, a
  // killed pg_dump, a broken pipe to object storage) still lists. Reading every data block,
  // as a restore would, is what proves it whole.
  Command read_all;
  read_all.argv = {"pg_restore", "--file=/dev/null", path};
  read_all.timeout_s = 6 * 3600;
  const auto whole = run_command(read_all);
  if (whole.exit_code != 0)
    throw StepError("backup " + path + " is incomplete or corrupt: its table of contents lists, but reading it whole "
                    "fails (pg_restore --file=/dev/null: " +
                    (whole.err.empty() ? "exit " + std::to_string(whole.exit_code) : whole.err.substr(0, 300)) +
                    "). Nothing was applied; check the disk and pg_dump, then run again.");
  BackupProof p;
  p.path = path;
  p.sha256 = sha256_file_hex(path);
  std::error_code ec;
  p.size = static_cast<long long>(std::filesystem::file_size(path, ec));
  std::size_t start = 0;
  while (start < r.out.size()) {
    auto nl = r.out.find('\n', start);
    if (nl == std::string::npos) nl = r.out.size();
    if (nl > start && r.out[start] != ';') ++p.toc_entries;
    start = nl + 1;
  }
  return p;
}

}  // namespace rb::migrations
