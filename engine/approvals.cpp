#include "engine/approvals.hpp"

#include <algorithm>
#include <set>

namespace rb::approvals {

namespace {
std::string user_of(const std::string& who) { return who.substr(0, who.find('@')); }
}  // namespace

void record(db::Connection& conn, const Approval& a) {
  // One script: the table, its append-only trigger and the row commit together.
  conn.run_script(
      "BEGIN;"
      "CREATE TABLE IF NOT EXISTS public.runbook_approvals ("
      "  id bigserial PRIMARY KEY, plan_id text NOT NULL, approver text NOT NULL,"
      "  approved_at timestamptz NOT NULL DEFAULT now(), comment text NOT NULL DEFAULT '',"
      "  host text NOT NULL DEFAULT '', run_id text NOT NULL DEFAULT '');"
      "CREATE INDEX IF NOT EXISTS runbook_approvals_plan ON public.runbook_approvals (plan_id);"
      "CREATE OR REPLACE FUNCTION public.runbook_approvals_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$"
      " BEGIN RAISE EXCEPTION 'runbook_approvals is append-only: approvals are never changed or removed'"
      " USING ERRCODE = 'insufficient_privilege'; END $f$;"
      "DROP TRIGGER IF EXISTS append_only ON public.runbook_approvals;"
      "CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON public.runbook_approvals"
      " FOR EACH ROW EXECUTE FUNCTION public.runbook_approvals_append_only();"
      "DROP TRIGGER IF EXISTS append_only_truncate ON public.runbook_approvals;"
      "CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON public.runbook_approvals"
      " FOR EACH STATEMENT EXECUTE FUNCTION public.runbook_approvals_append_only();"
      "REVOKE UPDATE, DELETE, TRUNCATE ON public.runbook_approvals FROM PUBLIC;"
      "COMMIT;");
  conn.query("INSERT INTO public.runbook_approvals (plan_id, approver, comment, host, run_id) VALUES ($1, $2, $3, $4, $5)",
             {a.plan_id, a.approver, a.comment, a.host, a.run_id});
}

std::vector<Approval> of_plan(db::Connection& conn, const std::string& plan_id) {
  std::vector<Approval> out;
  auto exists = conn.query("SELECT to_regclass('public.runbook_approvals') IS NOT NULL");
  if (exists.rows.empty() || !exists.rows[0][0].boolean) return out;
  auto r = conn.query(
      "SELECT plan_id, approver, comment, to_char(approved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'), host, run_id"
      " FROM public.runbook_approvals WHERE plan_id = $1 ORDER BY approved_at, id",
      {plan_id});
  for (const auto& row : r.rows) out.push_back({row[0].text, row[1].text, row[2].text, row[3].text, row[4].text, row[5].text});
  return out;
}

Decision decide(const Policy& policy, const std::vector<Approval>& approvals, const std::string& runner,
                const std::string& plan_id) {
  Decision d;
  if (policy.required <= 0) return d;
  std::set<std::string> counted;
  for (const auto& a : approvals) {
    const std::string who = user_of(a.approver);
    if (counted.count(who)) continue;  // the same person twice counts once
    std::string why;
    if (!policy.approvers.empty() && std::find(policy.approvers.begin(), policy.approvers.end(), who) == policy.approvers.end())
      why = " (not one of the environment's approvers)";
    else if (!policy.self_approval && who == user_of(runner))
      why = " (the runner of this change; self_approval = false)";
    if (!why.empty()) {
      const std::string entry = who + why;
      if (std::find(d.ignored.begin(), d.ignored.end(), entry) == d.ignored.end()) d.ignored.push_back(entry);
      continue;
    }
    counted.insert(who);
    d.counted.push_back(who + " at " + a.approved_at + (a.comment.empty() ? "" : " (\"" + a.comment + "\")"));
  }
  d.missing = std::max(0, policy.required - static_cast<int>(counted.size()));
  d.met = d.missing == 0;
  if (!d.met) {
    std::string msg = "this plan (" + plan_id.substr(0, 12) + ") has " + std::to_string(counted.size()) + " of the " +
                      std::to_string(policy.required) + " approvals the environment requires; " +
                      std::to_string(d.missing) + " missing";
    for (const auto& c : d.counted) msg += "\n  approved by " + c;
    for (const auto& i : d.ignored) msg += "\n  not counted: " + i;
    if (!policy.approvers.empty()) {
      std::string list;
      for (const auto& a : policy.approvers) list += (list.empty() ? "" : ", ") + a;
      msg += "\n  approvers: " + list;
    }
    msg += "\n  Each approver runs: runbook approve.lua --env ENV --set plan=PLAN_FILE (after reading the plan). "
           "An edited plan needs new approvals. Nothing was changed.";
    d.message = msg;
  }
  return d;
}

}  // namespace rb::approvals
