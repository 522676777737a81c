-- 0008_add_etl_errors_user_id (up)
-- Phase 1/3 (add): denormalise user_id onto etl_errors so "errors for user X"
-- does not need a join through hero_snapshots.
-- Added NULLable with no default: metadata-only change, no table rewrite, and
-- existing writers keep working. The worker starts writing user_id with the
-- release that ships alongside this migration.
-- Next: 0009 backfills existing rows, 0010 enforces NOT NULL.
ALTER TABLE etl_errors ADD COLUMN user_id uuid;
