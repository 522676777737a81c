-- apply-staging.lua — staging policy on top of apply.lua (seed 003's table, staging column):
-- its own token STAGING-OK, backup optional, no maintenance window. Time it: the run record's
-- step timings are the estimate for the production window.
local apply = require "apply"

return apply:with {
  name = "apply-staging",
  description = "Apply pending migrations to staging: token STAGING-OK, backup optional, no maintenance",
  confirm = "STAGING-OK",
  backup = "optional",
  maintenance = false,
}
