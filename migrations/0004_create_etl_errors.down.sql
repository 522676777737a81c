-- 0004_create_etl_errors (down)
DROP TABLE IF EXISTS etl_errors;
