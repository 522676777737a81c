-- 0005_create_user_summary_tables (down)
-- user_troops first: it references user_profile_summary.
DROP TABLE IF EXISTS user_troops;
DROP TABLE IF EXISTS user_profile_summary;
