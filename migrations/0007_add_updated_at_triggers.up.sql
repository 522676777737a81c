-- 0007_add_updated_at_triggers (up)
-- What: a shared trigger function that maintains updated_at, attached to the
--       tables that carry that column.
-- Why:  the ETL upserts (ON CONFLICT DO UPDATE) should not each have to
--       remember to set updated_at. No-op updates leave updated_at untouched so
--       "recently changed" queries stay meaningful.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER user_profile_summary_set_updated_at
    BEFORE UPDATE ON user_profile_summary
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TRIGGER user_troops_set_updated_at
    BEFORE UPDATE ON user_troops
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TRIGGER backfill_jobs_set_updated_at
    BEFORE UPDATE ON backfill_jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
