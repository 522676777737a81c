-- apply-prod.lua — production policy on top of apply.lua.
-- The operator types PROD-OK (or CI passes --confirm PROD-OK); DDL waits at most 5 s for a lock.
local apply = require "apply"

return apply:with {
  name = "apply-prod",
  description = "Apply pending migrations to production: typed confirmation PROD-OK, 5s lock timeout",
  confirm = "PROD-OK",
  lock_timeout = "5s",
}
