-- 0008_add_etl_errors_user_id (down)
ALTER TABLE etl_errors DROP COLUMN IF EXISTS user_id;
