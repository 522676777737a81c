-- examples/staging-rebuild-aws.lua — seed 000 as written, for AWS: RDS snapshot, restore to a
-- new instance, point Secrets Manager at it, redeploy ECS, run the migration chain, parity
-- must PASS. An example of a runbook that drives a cloud CLI through the shell primitive:
-- try it with --dry-run first, which prints every aws command instead of running it.
--   runbook examples/staging-rebuild-aws.lua --env staging --dry-run \
--     --set instance=afu9-staging --set new_instance=afu9-staging-2 --set secret_id=afu9/database
local runbook = require "runbook"
local shell = require "shell"
local json = require "json"
local db = require "db"
local migrations = require "migrations"
local migrate = require "lib.migrate"
local checks = require "lib.checks"

local function aws(ctx, args, opts)
  local cmd = { "aws" }
  for _, a in ipairs(args) do cmd[#cmd + 1] = a end
  cmd[#cmd + 1] = "--region"
  cmd[#cmd + 1] = ctx.params.region
  for k, v in pairs(opts or {}) do cmd[k] = v end
  cmd.timeout = cmd.timeout or 3600
  return shell.run(cmd)
end

local function stamp() return os.date("!%Y%m%d-%H%M%S") end

return runbook.define {
  name = "staging-rebuild-aws",
  description = "Seed 000 on AWS: RDS snapshot, restore to a new instance, switch the secret, redeploy ECS, migrate, parity PASS",
  params = {
    { name = "instance", type = "string", required = true, help = "current staging RDS instance identifier" },
    { name = "new_instance", type = "string", required = true, help = "identifier for the new instance" },
    { name = "region", type = "string", default = "eu-central-1", help = "AWS region" },
    { name = "secret_id", type = "string", default = "afu9/database", help = "Secrets Manager secret the ECS task reads" },
    { name = "cluster", type = "string", default = "afu9-cluster", help = "ECS cluster" },
    { name = "service", type = "string", default = "afu9-control-center-staging", help = "ECS service to redeploy" },
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    migrate.LEDGER_PARAM,
  },
  steps = {
    runbook.step("guard", "Refuse unless the environment is marked disposable", function(ctx)
      if not (ctx.env and ctx.env.disposable) then ctx:config_error("needs --env of an environment marked disposable = true") end
    end),
    runbook.step("snapshot", "Step 1: RDS snapshot of the current instance, and wait for it", function(ctx)
      ctx.state.snapshot = ctx.params.instance .. "-pre-rebuild-" .. stamp()
      aws(ctx, { "rds", "create-db-snapshot", "--db-instance-identifier", ctx.params.instance,
        "--db-snapshot-identifier", ctx.state.snapshot })
      aws(ctx, { "rds", "wait", "db-snapshot-completed", "--db-snapshot-identifier", ctx.state.snapshot })
      ctx:artifact("rds_snapshot", ctx.state.snapshot)
    end),
    runbook.step("restore", "Step 2: restore the snapshot to a new instance, and wait until available", function(ctx)
      aws(ctx, { "rds", "restore-db-instance-from-db-snapshot", "--db-instance-identifier", ctx.params.new_instance,
        "--db-snapshot-identifier", ctx.state.snapshot })
      aws(ctx, { "rds", "wait", "db-instance-available", "--db-instance-identifier", ctx.params.new_instance })
    end),
    runbook.step("secret", "Step 3: point the Secrets Manager secret at the new instance", function(ctx)
      local found = aws(ctx, { "rds", "describe-db-instances", "--db-instance-identifier", ctx.params.new_instance,
        "--query", "DBInstances[0].Endpoint.Address", "--output", "text" })
      local current = aws(ctx, { "secretsmanager", "get-secret-value", "--secret-id", ctx.params.secret_id,
        "--query", "SecretString", "--output", "text" })
      if found.dry_run then return end
      local secret = json.decode(current.stdout)
      secret.host = found.stdout:gsub("%s+$", "")
      runbook.add_secret(secret.password)
      aws(ctx, { "secretsmanager", "update-secret", "--secret-id", ctx.params.secret_id,
        "--secret-string", json.encode(secret) }, { secrets = { secret.password } })
      ctx.state.url = string.format("postgresql://%s:%s@%s:%s/%s", secret.username, secret.password, secret.host,
        tostring(secret.port or 5432), secret.database)
    end),
    runbook.step("redeploy", "Step 4: force ECS to start tasks that read the new secret", function(ctx)
      aws(ctx, { "ecs", "update-service", "--cluster", ctx.params.cluster, "--service", ctx.params.service,
        "--force-new-deployment" })
    end),
    runbook.step("migrate", "Step 5: apply the whole chain to the new instance", function(ctx)
      if ctx.dry_run then
        ctx:log("would apply all %d migration(s) to %s", #migrate.chain(ctx):list(), ctx.params.new_instance)
        return
      end
      ctx._db = db.connect { url = ctx.state.url, application_name = "runbook " .. ctx.runbook }
      migrate.apply_on(ctx, ctx._db)
    end),
    runbook.step("parity", "Step 6: parity must PASS, and the ops endpoint must agree", function(ctx)
      if ctx.dry_run then return end
      local list = { function() return checks.parity(ctx) end }
      if ctx.env.parity_url then
        list[#list + 1] = function()
          return checks.http(ctx, { name = "parity endpoint", url = ctx.env.parity_url, json = { ["parity.status"] = "PASS" },
            retries = 10, interval = 15 })
        end
      end
      checks.run(ctx, list)
      checks.verdict(ctx)
    end),
  },
}
