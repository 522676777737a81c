-- 0012_add_hero_snapshots_checks_not_valid (up)
-- What: payload must be a JSON object; error_count can never go negative.
-- Why:  added NOT VALID so only new/updated rows are checked and no full-table
--       scan runs under the ACCESS EXCLUSIVE lock. Existing rows are checked
--       by 0013 (VALIDATE CONSTRAINT), which takes a weaker lock.
ALTER TABLE hero_snapshots
    ADD CONSTRAINT hero_snapshots_raw_is_object
    CHECK (jsonb_typeof(raw) = 'object') NOT VALID;

ALTER TABLE hero_snapshots
    ADD CONSTRAINT hero_snapshots_error_count_nonnegative
    CHECK (error_count >= 0) NOT VALID;
