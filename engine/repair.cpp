#include "engine/repair.hpp"

#include "engine/apply.hpp"
#include "engine/errors.hpp"

namespace rb::migrations {

std::string resolve(db::Connection& conn, Ledger& ledger, const Chain& chain, const std::string& name,
                    const std::string& as, RunMode mode, const std::string& run_id, const std::string& applied_by) {
  if (as != "applied" && as != "rolled-back")
    throw ConfigError("resolve: state must be \"applied\" or \"rolled-back\", got \"" + as + "\"");
  const bool live = changes_allowed(mode);
  const Migration* m = chain.find(name);
  if (!m) {
    // A ledger row without a file (extra in DB) can only be resolved as rolled back.
    bool in_ledger = false;
    for (const auto& row : ledger.read()) in_ledger = in_ledger || row.filename == name;
    if (!in_ledger || as != "rolled-back")
      throw ConfigError("resolve: " + name + " is not a migration in " + chain.directory +
                        (in_ledger ? " (a ledger row without a file can only be resolved as rolled-back)" : ""));
    LedgerLock lock(conn, ledger, live, 60);
    if (!live) return "would remove the ledger row of " + name + " (no such file)";
    ledger.remove(name);
    return "removed the ledger row of " + name + ", which has no migration file";
  }
  LedgerLock lock(conn, ledger, live, 60);
  if (live) ledger.ensure();
  if (!live) return "would mark " + m->name + " as " + as;
  if (as == "applied") {
    ledger.record_applied(m->name, m->version, m->sha256, 0, applied_by, run_id);
    return "marked " + m->name + " as applied (resolved by " + applied_by + ")";
  }
  ledger.remove(m->name);
  return "marked " + m->name + " as rolled back (its ledger row is removed)";
}

std::vector<std::string> baseline(db::Connection& conn, Ledger& ledger, const Chain& chain, const std::string& version,
                                  RunMode mode, const std::string& run_id, const std::string& applied_by) {
  const int last = chain.index_of(version);
  if (last < 0) throw ConfigError("baseline: " + version + " is not a migration in " + chain.directory);
  const bool live = changes_allowed(mode);
  LedgerLock lock(conn, ledger, live, 60);
  if (live) ledger.ensure();
  std::vector<std::string> done;
  const auto rows = ledger.read();
  for (int i = 0; i <= last; ++i) {
    const Migration& m = chain.migrations[static_cast<std::size_t>(i)];
    bool present = false;
    for (const auto& r : rows)
      if (r.filename == m.name) present = true;
    if (present) continue;
    if (live) ledger.record_applied(m.name, m.version, m.sha256, 0, "baseline by " + applied_by, run_id);
    done.push_back(m.name);
  }
  return done;
}

}  // namespace rb::migrations
