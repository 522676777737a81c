-- environments.lua — an example environments file. Copy it into your repository (runbook
-- reads ./environments.lua, or --environments FILE, or $RUNBOOK_ENVIRONMENTS) and edit it.
-- Secrets never go in this file: database_env names the variable that holds the URL.
-- A misspelt key or an unset variable is a configuration error (exit 2) before anything runs.
return {
  staging = {
    description = "staging: disposable, rebuilt from migrations when it drifts (seed 000)",
    database_env = "DATABASE_URL_STAGING",   -- e.g. postgresql://app@staging-db/app
    disposable = true,                       -- staging-rebuild.lua refuses anything else
    confirm = "STAGING-OK",                  -- typed token (seed 003: DIXIS-STAGING-OK)
    backup = "optional",                     -- "required", "optional" or "skip"
    backup_dir = "/var/backups/runbook",
    lock_timeout = "5s",
    parity_url = "https://staging.example.com/api/ops/db/migrations?env=staging",
    health_checks = {
      { name = "api health", url = "https://staging.example.com/api/health", status = 200 },
      { name = "parity endpoint", url = "https://staging.example.com/api/ops/db/migrations?env=staging",
        json = { ["parity.status"] = "PASS" } },
    },
    expected_tables = { "public.hero_snapshots", "public.etl_errors" },
    expected_indexes = { "hero_snapshots_pending_idx", { table = "hero_snapshots", like = "%gin%" } },
    smoke_sql = {
      "SELECT count(*) >= 0 FROM hero_snapshots",   -- no expect: passes unless false or NULL
      { name = "error types seeded", sql = "SELECT count(*) FROM etl_error_types", expect = ">= 1" },
    },
  },
  prod = {
    description = "production",
    database_env = "DATABASE_URL_PROD",
    disposable = false,
    confirm = "PROD-OK",
    backup = "required",
    backup_dir = "/var/backups/runbook",
    lock_timeout = "5s",
    statement_timeout = "15min",
    require_rehearsal = "staging",           -- refuse files staging never rehearsed or applied (same SHA-256)
    -- min_soak = "24h",                     -- seed 004: applied on staging at least 24 h before production
    max_connections = 400,
    long_transaction = "2min",
    hooks = {
      -- seed 001: scale the ETL workers down during the change, back up afterwards
      pause_workers = { "kubectl", "scale", "deployment", "etl-worker", "--replicas=0", "-n", "starforge" },
      resume_workers = { "kubectl", "scale", "deployment", "etl-worker", "--replicas=3", "-n", "starforge" },
      -- seed 004: maintenance mode
      maintenance_on = { "curl", "-fsS", "-X", "POST", "https://status.example.com/api/maintenance/on" },
      maintenance_off = { "curl", "-fsS", "-X", "POST", "https://status.example.com/api/maintenance/off" },
      -- seed 004: a copy of the backup off the host; {backup} is the dump file
      upload_backup = { "aws", "s3", "cp", "{backup}", "s3://example-backups/database/" },
    },
    secrets_env = { "AWS_SECRET_ACCESS_KEY" },  -- values masked in every log and record
    health_checks = {
      { name = "api health", url = "https://api.example.com/health", status = 200, retries = 3, interval = 10 },
    },
    expected_tables = { "public.hero_snapshots", "public.etl_errors", "public.user_profile_summary" },
    smoke_sql = {
      { name = "recent errors readable", sql = "SELECT count(*) >= 0 FROM etl_errors WHERE created_at > now() - interval '10 minutes'" },
      -- expect: "= 0", "!= 0", ">= 1", "> 1", "<= 5", "< 5", or a bare value the result must equal as text
      { name = "no stuck snapshots", sql = "SELECT count(*) FROM hero_snapshots WHERE processed_at IS NULL AND created_at < now() - interval '1 day'",
        expect = "= 0" },
    },
    -- Read before apply changes anything and compared after (verify and post-verify): a
    -- migration that loses rows fails verification (exit 4).
    compare = {
      { name = "hero_snapshots", sql = "SELECT count(*) FROM hero_snapshots", must = "not_shrink" },
      { name = "error types", sql = "SELECT count(*) FROM etl_error_types", must = "equal" },
    },
  },
}
