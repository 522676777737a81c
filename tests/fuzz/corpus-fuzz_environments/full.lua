-- environments.lua: one table per environment.
return {
  staging = {
    database_env = "FUZZ_DATABASE_URL",
    confirm = "STAGING-OK",
    backup = "optional",
    backup_dir = "/var/backups/app",
    backup_verify = "restore",
    max_connections = 50,
    long_transaction = "2min",
    health_checks = { "http://localhost:8080/health" },
    parity_url = "http://localhost:8080/schema",
    expected_tables = { "users", "orders" },
    expected_indexes = { "users_email_idx" },
    smoke_sql = { "SELECT 1", "SELECT count(*) FROM users",
      { name = "orders_count", sql = "SELECT count(*) FROM orders", expect = ">= 1" },
      { name = "stuck jobs", sql = "SELECT count(*) FROM jobs WHERE stuck", expect = "= 0" },
      { name = "status", sql = "SELECT 'ok'", expect = "ok" } },
    compare = {
      { name = "orders", sql = "SELECT count(*) FROM orders", must = "not_shrink" },
      { name = "users", sql = "SELECT count(*) FROM users", must = "equal" },
      { name = "audit", sql = "SELECT count(*) FROM audit_log", must = "grow" },
    },
    secrets_env = { "FUZZ_DATABASE_URL" },
    hooks = {
      pause_workers = { "kubectl", "scale", "deploy/worker", "--replicas=0" },
      resume_workers = { "kubectl", "scale", "deploy/worker", "--replicas=3" },
      maintenance_on = { "touch", "/srv/maintenance" },
      maintenance_off = { "rm", "-f", "/srv/maintenance" },
      upload_backup = { "aws", "s3", "cp", "{backup}", "s3://bucket/" },
    },
  },
  prod = { database_env = "PROD_DATABASE_URL", confirm = "PROD-OK", backup = "required" },
}
