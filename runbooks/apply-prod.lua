-- apply-prod.lua — production policy on top of apply.lua (seed 003's table, production column):
-- the operator types PROD-OK (or CI passes --confirm PROD-OK), a backup is required,
-- maintenance hooks run, destructive SQL needs an explicit yes, DDL waits at most 5 s for a lock,
-- and a person ticks the human items of seeds 001 and 004 (--yes and --confirm never do).
local apply = require "apply"

-- What a machine cannot check (seed 001's pre-migration checklist, seed 004's approvals).
-- A team edits this list in its composition (:with{ checklist = {...} }) or per environment
-- (checklist = {...} in environments.lua); CI answers each with --check ID.
local CHECKLIST = {
  { id = "approvals", text = "Approvals obtained (Engineering and SRE)" },
  { id = "window", text = "Maintenance window scheduled" },
  { id = "stakeholders", text = "Stakeholders notified (status page, chat channel)" },
  { id = "on-call", text = "On-call engineer available for the window" },
  { id = "rollback-plan", text = "Rollback plan documented and ready" },
}

return apply:with {
  name = "apply-prod",
  description = "Apply pending migrations to production: checklist, token PROD-OK, backup required, maintenance hooks, 5s lock timeout",
  confirm = "PROD-OK",
  backup = "required",
  maintenance = true,
  acknowledge_destructive = true,
  lock_timeout = "5s",
  checklist = CHECKLIST,
}
