-- apply-prod.lua — production policy on top of apply.lua (seed 003's table, production column):
-- the operator types PROD-OK (or CI passes --confirm PROD-OK), a backup is required,
-- maintenance hooks run, destructive SQL needs an explicit yes, DDL waits at most 5 s for a lock.
local apply = require "apply"

return apply:with {
  name = "apply-prod",
  description = "Apply pending migrations to production: token PROD-OK, backup required, maintenance hooks, 5s lock timeout",
  confirm = "PROD-OK",
  backup = "required",
  maintenance = true,
  acknowledge_destructive = true,
  lock_timeout = "5s",
}
