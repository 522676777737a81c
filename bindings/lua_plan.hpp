#pragma once
// The plan handle of the `migrations` module (bindings/lua_plan.cpp): a read-only view of an
// engine Plan plus what this run did to meet its policy (the Consent).
#include <lua.hpp>

#include "engine/plan.hpp"

namespace rb::lua {

struct PlanState;
// The chain handle (bindings/lua_migrations.cpp).
migrations::Chain& check_chain(lua_State* L, int index);
migrations::Plan& check_plan(lua_State* L, int index);
// What this run did for the plan, with the run's own confirmation counted (host.confirm).
migrations::Consent plan_consent(lua_State* L, int index);
// Pushes {path, sha256, size, toc_entries[, taken_at, plan]}.
void push_backup_proof(lua_State* L, const migrations::BackupProof& proof);
// Pushes a status table (bindings/lua_migrations.cpp).
void push_status(lua_State* L, const migrations::Status& st);
// migrations.plan(conn, chain, opts) -> plan
int plan_new(lua_State* L);
// migrations.approve(conn, plan_id, {approver=, comment=}) and migrations.approvals_of(conn, plan_id)
int mig_approve(lua_State* L);
int mig_approvals_of(lua_State* L);
// Registers the plan metatable (called by open_migrations).
void register_plan_type(lua_State* L);

}  // namespace rb::lua
