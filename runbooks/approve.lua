-- approve.lua — approve a saved plan (seed 004: "approvals from Engineering and SRE before
-- production"). The approval names the plan's id, the hash of what it would change, where and
-- under which policy, so an edited plan needs new approvals. It is recorded on the target
-- database (public.runbook_approvals, append-only); an environment with
-- approvals = { required = 2, approvers = { ... }, self_approval = false } makes
-- `apply-prod --plan FILE` refuse until enough distinct approvers approved exactly that plan.
--   runbook apply-prod.lua --env prod --dry-run --plan-out plan.json     # the change author
--   runbook approve.lua --env prod --set plan=plan.json --set comment="read it, LGTM"   # each approver
local runbook = require "runbook"
local migrations = require "migrations"
local json = require "json"
local files = require "files"
local preflight = require "lib.preflight"
local migrate = require "lib.migrate"

local function saved_plan(ctx)
  if ctx.state.saved then return ctx.state.saved end
  local path = ctx.params.plan
  local ok, doc = pcall(json.decode, files.read(path))
  if not ok or type(doc) ~= "table" or doc.format ~= "runbook-plan/1" or type(doc.id) ~= "string" then
    ctx:config_error(path .. " is not a plan saved with --plan-out (format runbook-plan/1)")
  end
  ctx.state.saved = doc
  return doc
end

-- The plan must be of this database and of these files: an approver approves what would run.
local function review(ctx)
  local doc = saved_plan(ctx)
  local db = ctx:db()
  local here = db:value("SELECT current_database()")
  if doc.database and doc.database.name and doc.database.name ~= here then
    ctx:verify_failed(string.format("%s was made for database %s, not %s: nothing approved", ctx.params.plan,
      tostring(doc.database.name), here))
  end
  local chain = migrate.chain(ctx)
  local changed = {}
  for _, m in ipairs(doc.migrations or {}) do
    local now = chain:get(m.name)
    if not now then changed[#changed + 1] = m.name .. " (no such file any more)"
    elseif now.sha256 ~= m.sha256 then changed[#changed + 1] = m.name .. " (edited since the plan was made)" end
  end
  if #changed > 0 then
    ctx:verify_failed(string.format("%s no longer matches the migration files:\n  - %s\n  Make a new plan; nothing approved.",
      ctx.params.plan, table.concat(changed, "\n  - ")))
  end
  ctx:log("plan %s (%s): %d migration(s) for %s", doc.id:sub(1, 12), doc.kind or "apply", #(doc.migrations or {}),
    tostring(doc.database and doc.database.name or "?"))
  for _, m in ipairs(doc.migrations or {}) do
    local destructive = 0
    for _, f in ipairs(m.findings or {}) do if f.destructive then destructive = destructive + 1 end end
    ctx:log("  %s  %s%s", m.name, (m.sha256 or ""):sub(1, 12), destructive > 0 and string.format("  (%d destructive finding(s))", destructive) or "")
  end
  local policy = doc.policy or {}
  ctx:log("policy: token %s, backup %s%s", policy.confirm_token ~= "" and tostring(policy.confirm_token) or "none",
    tostring(policy.backup), policy.maintenance and ", maintenance" or "")
  for _, a in ipairs(migrations.approvals_of(db, doc.id)) do
    ctx:log("already approved by %s at %s%s", a.approver, a.approved_at, a.comment ~= "" and (": " .. a.comment) or "")
  end
end

return runbook.define {
  name = "approve",
  description = "Approve a saved plan (--plan-out) by its id, on the target database; apply-prod --plan counts the approvals",
  params = {
    { name = "plan", type = "string", required = true, help = "the plan file written by --plan-out" },
    { name = "as", type = "string", help = "the approver (default: the OS user, $RUNBOOK_OPERATOR or $USER)" },
    { name = "comment", type = "string", default = "", help = "why, or what was checked" },
    { name = "migrations", type = "string", default = "./migrations", help = "migrations directory" },
    migrate.LEDGER_PARAM,
    migrate.LAYOUT_PARAM,
  },
  settings = { confirm = false },
  steps = {
    runbook.gate("connect", "Connect to the database", preflight.connect),
    runbook.gate("review", "Show the saved plan; it must be of this database and of the migration files as they are", review),
    runbook.gate("confirm", "Ask the approver", function(ctx)
      local who = ctx.params.as or os.getenv("RUNBOOK_OPERATOR") or os.getenv("USER") or "unknown"
      ctx.state.approver = who
      -- The approver's own yes (--yes in CI): approving changes no schema, so the environment's
      -- change token is not asked for.
      ctx:confirm { question = string.format("Approve plan %s as %s?", saved_plan(ctx).id:sub(1, 12), who) }
    end),
    runbook.step("record", "Record the approval (public.runbook_approvals, append-only)", function(ctx)
      local doc = saved_plan(ctx)
      migrations.approve(ctx:db(), doc.id, { approver = ctx.state.approver, comment = ctx.params.comment })
      if not ctx.dry_run then
        ctx:log("approved plan %s as %s; %d approval(s) of it recorded", doc.id:sub(1, 12), ctx.state.approver,
          #migrations.approvals_of(ctx:db(), doc.id))
      end
    end),
  },
}
