-- 0006_create_backfill_jobs (down)
DROP TABLE IF EXISTS backfill_jobs;
