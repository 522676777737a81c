-- compose_apply.lua — apply.lua changed by composition (test fixture for
-- tests/integration/test_runbooks_cli.cpp): a marker step inserted before "apply" that leaves
-- evidence in the database, and the backup step replaced by a differently named dump.
local runbook = require "runbook"
local apply = require "apply"
local backup = require "lib.backup"

local function mark(ctx)
  ctx:db():exec("CREATE TABLE IF NOT EXISTS compose_marker (run_id text, hero_snapshots_existed boolean)")
  ctx:db():exec("INSERT INTO compose_marker VALUES ($1, to_regclass('public.hero_snapshots') IS NOT NULL)", ctx.run_id)
  ctx:log("marker written before the apply")
end

local function custom_backup(ctx)
  require("files").mkdir(backup.dir(ctx))
  backup.dump(ctx, backup.dir(ctx) .. "/custom-" .. ctx.run_id .. ".dump")
end

return apply
  :with { name = "compose-apply", description = "apply.lua with a marker step and a custom backup" }
  :insert_before("apply", runbook.step("mark", "Leave a marker row before the apply", mark))
  :replace("backup", runbook.step("backup", "Custom backup: custom-<run>.dump", custom_backup))
