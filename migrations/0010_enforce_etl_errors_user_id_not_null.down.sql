-- 0010_enforce_etl_errors_user_id_not_null (down)
ALTER TABLE etl_errors ALTER COLUMN user_id DROP NOT NULL;
