#include "engine/adopt.hpp"

#include <set>

#include "engine/apply.hpp"
#include "engine/errors.hpp"
#include "engine/tool_ledger.hpp"

namespace rb::migrations {

std::vector<std::string> AdoptReport::blockers() const {
  std::vector<std::string> out;
  for (const auto& d : differs) out.push_back(d);
  for (const auto& f : failed) out.push_back(f);
  for (const auto& u : unknown) out.push_back(u);
  return out;
}

AdoptReport adopt(db::Connection& conn, const Chain& chain, const std::string& tool_spec, const LedgerName& own,
                  RunMode mode, const std::string& run_id, const std::string& applied_by) {
  const LedgerName compat = LedgerName::parse(tool_spec);
  if (compat.tool.empty())
    throw ConfigError("adopt: '" + tool_spec + "' is not a tool whose ledger runbook reads (see docs/adoption.md)");
  const ToolLedgerModule* tool = find_tool_ledger(compat.tool);
  if (!own.tool.empty()) throw ConfigError("adopt: the ledger to write must be a table of runbook's, not " + own.spec());
  if (own.qualified() == compat.tool_table)
    throw ConfigError("adopt: runbook's ledger " + own.qualified() + " is " + compat.tool + "'s own table; choose " +
                      "another, e.g. --set ledger=public.runbook_ledger");
  AdoptReport report;
  report.tool = compat.tool;
  report.tool_table = compat.tool_table;
  report.ledger = own.qualified();
  if (!conn.query("SELECT to_regclass($1) IS NOT NULL", {compat.tool_table}).rows.at(0).at(0).boolean)
    throw ConfigError("adopt: " + compat.tool_table + " does not exist: this database has no " + compat.tool + " ledger");
  LedgerName own_chosen = own;
  own_chosen.chosen = true;  // writing it is the point: the tool's table does not make it refuse
  Ledger ledger(conn, own_chosen, &chain);
  const bool live = changes_allowed(mode);
  LedgerLock lock(conn, ledger, live, 60);
  std::set<std::string> in_own;
  for (const auto& r : ledger.read()) in_own.insert(r.filename);
  std::set<int> recorded;
  for (const auto& rec : tool->read(conn, compat.tool_table, chain)) {
    if (rec.index < 0) {
      report.unknown.push_back(compat.tool + " records " + rec.key + ", which is not in " + chain.directory);
      continue;
    }
    const Migration& m = chain.migrations[static_cast<std::size_t>(rec.index)];
    recorded.insert(rec.index);
    if (rec.failed) report.failed.push_back(m.name + ": " + rec.failure);
    else if (rec.checksum_differs)
      report.differs.push_back(m.name + " was edited after " + compat.tool + " applied it (its checksum differs)");
    else if (in_own.count(m.name)) report.already.push_back(m.name);
    else report.matched.push_back(m.name);
  }
  for (std::size_t i = 0; i < chain.migrations.size(); ++i)
    if (!recorded.count(static_cast<int>(i))) report.pending.push_back(chain.migrations[i].name);
  if (!report.blockers().empty()) return report;  // the caller reports; nothing is written
  report.recorded = report.matched;
  if (live && !report.matched.empty()) {
    ledger.ensure();
    conn.run_script("BEGIN");
    try {
      for (const auto& name : report.matched) {
        const Migration* m = chain.find(name);
        ledger.record_applied(m->name, m->version, m->sha256, 0, "adopted from " + compat.tool + " by " + applied_by,
                              run_id);
      }
      conn.run_script("COMMIT");
    } catch (...) {
      try { conn.run_script("ROLLBACK"); } catch (const std::exception&) {}
      throw;
    }
  }
  return report;
}

}  // namespace rb::migrations
