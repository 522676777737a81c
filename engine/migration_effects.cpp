#include "engine/migration_effects.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <set>

namespace rb::migrations {

namespace {

constexpr const char* kUserRelations =
    " relpersistence <> 't' AND relnamespace NOT IN ('pg_catalog'::regnamespace, "
    "'information_schema'::regnamespace, 'pg_toast'::regnamespace)";

constexpr const char* kQualifiedName =
    "quote_ident(relnamespace::regnamespace::text) || '.' || quote_ident(relname)";

const std::vector<std::string>& modes_by_strength() {
  static const std::vector<std::string> m{"AccessShareLock",          "RowShareLock", "RowExclusiveLock",
                                          "ShareUpdateExclusiveLock", "ShareLock",    "ShareRowExclusiveLock",
                                          "ExclusiveLock",            "AccessExclusiveLock"};
  return m;
}

std::string oid_array(const std::set<long long>& oids) {
  std::string s = "{";
  for (auto o : oids) s += (s.size() > 1 ? "," : "") + std::to_string(o);
  return s + "}";
}

}  // namespace

int lock_mode_rank(const std::string& mode) {
  const auto& m = modes_by_strength();
  const auto it = std::find(m.begin(), m.end(), mode);
  return it == m.end() ? -1 : static_cast<int>(it - m.begin());
}

std::string lock_mode_name(const std::string& mode) {
  std::string base = mode;
  if (base.size() > 4 && base.compare(base.size() - 4, 4, "Lock") == 0) base.resize(base.size() - 4);
  std::string out;
  for (char c : base) {
    if (std::isupper(static_cast<unsigned char>(c)) && !out.empty()) out += ' ';
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

EffectsRecorder::EffectsRecorder(db::Connection& conn, const std::vector<std::string>& ignored) : conn_(conn) {
  conn_.run_script("CREATE TEMP TABLE IF NOT EXISTS runbook_observed_locks (relation oid, mode text)");
  std::set<long long> oids;
  for (const auto& t : ignored) {
    const auto dot = t.find('.');
    auto r = conn_.query("SELECT c.oid::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                         " WHERE n.nspname = $1 AND c.relname = $2",
                         {dot == std::string::npos ? std::string("public") : t.substr(0, dot),
                          dot == std::string::npos ? t : t.substr(dot + 1)});
    for (const auto& row : r.rows) oids.insert(row[0].integer);
  }
  ignored_oids_ = oid_array(oids);
  pid_ = static_cast<int>(conn_.query("SELECT pg_backend_pid()").rows.at(0).at(0).integer);
  capture_sql_ =
      "INSERT INTO pg_temp.runbook_observed_locks SELECT relation, mode FROM pg_locks WHERE pid = pg_backend_pid()"
      " AND locktype = 'relation' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = "
      "current_database())";
}

EffectsRecorder::~EffectsRecorder() {
  stop_ = true;
  if (sampler_.joinable()) sampler_.join();
}

void EffectsRecorder::begin(bool sample) {
  storage_before_.clear();
  sampled_.clear();
  expected_.clear();
  auto r = conn_.query(std::string("SELECT oid::bigint, relfilenode::bigint FROM pg_class WHERE") + kUserRelations);
  for (const auto& row : r.rows) storage_before_.emplace_back(row[0].integer, row[1].integer);
  if (!sample) return;
  if (!sampler_conn_) {
    db::ConnectOptions o = conn_.options();
    o.application_name = "runbook lock sampler";
    o.lock_timeout.clear();
    o.statement_timeout.clear();
    sampler_conn_ = std::make_unique<db::Connection>(o);
  }
  stop_ = false;
  sampler_ = std::thread([this] { sample_loop(); });
}

void EffectsRecorder::sample_loop() {
  const std::string q = "SELECT relation::bigint, mode FROM pg_locks WHERE pid = " + std::to_string(pid_) +
                        " AND locktype = 'relation' AND granted AND relation IS NOT NULL";
  std::set<std::pair<long long, std::string>> seen;
  while (!stop_) {
    try {
      for (const auto& row : sampler_conn_->query(q).rows) seen.emplace(row[0].integer, row[1].text);
    } catch (...) {
      break;  // the sampler's session is gone: what it saw so far stands
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  sampled_.assign(seen.begin(), seen.end());
}

void EffectsRecorder::expect_lock(const nlohmann::json& node) {
  const nlohmann::json* relation = nullptr;
  if (node.contains("IndexStmt") && node["IndexStmt"].value("concurrent", false)) relation = &node["IndexStmt"]["relation"];
  else if (node.contains("ReindexStmt") && node["ReindexStmt"].contains("relation"))
    relation = &node["ReindexStmt"]["relation"];
  if (!relation || !relation->is_object() || !relation->contains("relname")) return;
  const std::string schema = relation->value("schemaname", ""), table = relation->value("relname", "");
  auto r = conn_.query(
      "SELECT to_regclass(CASE WHEN $1 = '' THEN quote_ident($2) ELSE quote_ident($1) || '.' || quote_ident($2) END)::oid::bigint",
      {schema, table});
  if (!r.rows.empty() && r.rows[0][0].type != db::CellType::null)
    expected_.emplace_back(r.rows[0][0].integer, "ShareUpdateExclusiveLock");
}

Effects EffectsRecorder::end() {
  stop_ = true;
  if (sampler_.joinable()) sampler_.join();
  std::map<long long, std::pair<std::string, bool>> strongest;  // oid -> mode, seen by sampling only
  const auto take = [&](long long oid, const std::string& mode, bool sampled) {
    auto it = strongest.find(oid);
    if (it == strongest.end()) {
      strongest[oid] = {mode, sampled};
      return;
    }
    if (lock_mode_rank(mode) > lock_mode_rank(it->second.first)) it->second.first = mode;
    it->second.second = it->second.second && sampled;
  };
  for (const auto& row : conn_.query("DELETE FROM pg_temp.runbook_observed_locks RETURNING relation::bigint, mode").rows)
    take(row[0].integer, row[1].text, false);
  for (const auto& [oid, mode] : expected_) take(oid, mode, false);
  for (const auto& [oid, mode] : sampled_) take(oid, mode, true);

  std::set<long long> oids;
  for (const auto& entry : strongest) oids.insert(entry.first);
  const std::map<long long, long long> before(storage_before_.begin(), storage_before_.end());
  Effects e;
  if (!oids.empty()) {
    auto r = conn_.query(std::string("SELECT oid::bigint, ") + kQualifiedName +
                             " FROM pg_class WHERE oid = ANY($1::oid[]) AND oid <> ALL($2::oid[])"
                             " AND relkind IN ('r', 'm', 'p') AND" + kUserRelations,
                         {oid_array(oids), ignored_oids_});
    std::vector<std::pair<int, LockTaken>> ranked;
    for (const auto& row : r.rows) {
      const auto& [mode, sampled] = strongest[row[0].integer];
      ranked.push_back({lock_mode_rank(mode),
                        {row[1].text, lock_mode_name(mode), before.count(row[0].integer) == 0, sampled}});
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (auto& entry : ranked) e.locks.push_back(std::move(entry.second));
  }
  auto r = conn_.query(std::string("SELECT oid::bigint, relfilenode::bigint, ") + kQualifiedName +
                       " FROM pg_class WHERE relkind IN ('r', 'm') AND" + kUserRelations + " ORDER BY 3");
  for (const auto& row : r.rows) {
    const auto it = before.find(row[0].integer);
    if (it != before.end() && it->second != row[1].integer) e.rewritten.push_back(row[2].text);
  }
  return e;
}

}  // namespace rb::migrations
