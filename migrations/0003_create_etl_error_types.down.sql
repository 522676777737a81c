-- 0003_create_etl_error_types (down)
-- Drops the reference table and its seed rows.
DROP TABLE IF EXISTS etl_error_types;
