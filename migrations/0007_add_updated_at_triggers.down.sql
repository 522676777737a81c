-- 0007_add_updated_at_triggers (down)
-- Triggers first, then the function they use.
DROP TRIGGER IF EXISTS backfill_jobs_set_updated_at ON backfill_jobs;
DROP TRIGGER IF EXISTS user_troops_set_updated_at ON user_troops;
DROP TRIGGER IF EXISTS user_profile_summary_set_updated_at ON user_profile_summary;
DROP FUNCTION IF EXISTS set_updated_at();
