#include "engine/status.hpp"

#include <unordered_map>

#include "engine/hash.hpp"

namespace rb::migrations {

namespace {
const std::string kBom = "\xEF\xBB\xBF";

std::string to_lf(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  std::size_t start = s.compare(0, kBom.size(), kBom) == 0 ? kBom.size() : 0;
  for (std::size_t i = start; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    out.push_back(s[i]);
  }
  return out;
}

std::string to_crlf(const std::string& lf) {
  std::string out;
  out.reserve(lf.size() + lf.size() / 16);
  for (char c : lf) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}
}  // namespace

bool differs_only_in_line_endings(const std::string& content, const std::string& ledger_sha256) {
  const std::string lf = to_lf(content);
  const std::string crlf = to_crlf(lf);
  for (const std::string* variant : {&lf, &crlf}) {
    if (sha256_hex(*variant) == ledger_sha256) return true;
    if (sha256_hex(kBom + *variant) == ledger_sha256) return true;
  }
  return false;
}

Status compute_status(const Chain& chain, const std::vector<LedgerRow>& ledger) {
  Status st;
  std::unordered_map<std::string, const LedgerRow*> by_name;
  for (const auto& row : ledger) {
    if (!row.disagreement.empty()) st.disagreements.push_back(row.disagreement);
    // Another run is applying it right now: still pending for this one, which waits for the
    // lock and then finds the ledger changed.
    if (row.in_progress) continue;
    by_name.emplace(row.filename, &row);
  }

  // The newest applied migration splits "not applied" into gaps and pending.
  int newest_applied = -1;
  for (std::size_t i = 0; i < chain.migrations.size(); ++i)
    if (!chain.migrations[i].repeatable && by_name.count(chain.migrations[i].name)) newest_applied = static_cast<int>(i);

  for (std::size_t i = 0; i < chain.migrations.size(); ++i) {
    const Migration& m = chain.migrations[i];
    auto it = by_name.find(m.name);
    if (it == by_name.end()) {
      (static_cast<int>(i) < newest_applied ? st.missing_in_db : st.pending).push_back(&m);
      continue;
    }
    const LedgerRow& row = *it->second;
    if (m.repeatable && row.status == "applied" && row.sha256 != m.sha256) {
      st.pending.push_back(&m);  // a changed repeatable runs again: not drift
      by_name.erase(it);
      continue;
    }
    if (row.status != "applied") {  // dirty, or running with nobody running it: cut off
      st.dirty.push_back(row);
    } else {
      st.applied.push_back(&m);
    }
    if (row.sha256 != m.sha256) {
      HashMismatch mm{m.name, row.sha256, m.sha256, differs_only_in_line_endings(m.whole_file.empty() ? m.up_sql : m.whole_file, row.sha256)};
      (mm.line_endings_only ? st.line_ending_only : st.hash_mismatches).push_back(mm);
    }
    by_name.erase(it);
  }
  for (const auto& row : ledger)
    if (by_name.count(row.filename) && row.disagreement.empty()) st.extra_in_db.push_back(row);
  return st;
}

std::vector<std::string> Status::drift_messages() const {
  std::vector<std::string> out;
  for (const auto& m : hash_mismatches)
    out.push_back(m.filename + " was edited after it was applied (ledger sha256 " +
                  m.ledger_sha256.substr(0, 12) + "…, file " + m.file_sha256.substr(0, 12) + "…)");
  for (const auto* m : missing_in_db)
    out.push_back(m->name + " is missing in the database but newer migrations are applied (a gap)");
  for (const auto& r : extra_in_db)
    out.push_back(r.filename + " is in the ledger but not in the migrations directory");
  for (const auto& r : dirty) {
    if (r.status == "running")
      out.push_back(r.filename + " was cut off while it ran outside a transaction (run " + r.run_id + ", started " +
                    r.applied_at + "): statement " + std::to_string(r.failed_statement) +
                    " may be partial, " + std::to_string(r.statements_done) +
                    " statement(s) before it completed. Check what it left (a CREATE INDEX CONCURRENTLY "
                    "leaves an INVALID index: DROP INDEX CONCURRENTLY it, or REINDEX INDEX CONCURRENTLY it to "
                    "finish the job), then mark it with resolve (applied or rolled back)");
    else if (r.failed_statement == 0)  // a tool's failed state: the tool says how far it got
      out.push_back(r.filename + " is dirty (" + r.error +
                    "); repair the database by hand, then mark it with resolve (applied or rolled back)");
    else
      out.push_back(r.filename + " is dirty: it failed at statement " + std::to_string(r.failed_statement) +
                    " after " + std::to_string(r.statements_done) + " statement(s) ran (" + r.error +
                    "); repair the database by hand, then mark it with resolve (applied or rolled back)");
  }
  out.insert(out.end(), disagreements.begin(), disagreements.end());
  return out;
}

}  // namespace rb::migrations
