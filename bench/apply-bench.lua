-- bench/apply-bench.lua — apply.lua reduced to the work psql does in the benchmark:
-- connect, parity (one ledger read), apply (lock, one ledger read, one round trip per
-- migration), verify (one ledger read). No SQL review, server pre-flight or backup.
local runbook = require "runbook"
local migrate = require "lib.migrate"
local apply = require "apply"

return apply
  :with { name = "apply-bench", backup = "skip" }
  :remove("review")
  :remove("preflight")
  :remove("pause")
  :remove("resume")
  :replace("verify", runbook.step("verify", "Parity after apply", migrate.verify))
