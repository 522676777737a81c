-- 0013_validate_hero_snapshots_checks (down)
-- PostgreSQL has no "un-validate"; drop and re-add NOT VALID, which restores
-- exactly the post-0012 state (metadata-only, no scan).
ALTER TABLE hero_snapshots DROP CONSTRAINT hero_snapshots_raw_is_object;
ALTER TABLE hero_snapshots
    ADD CONSTRAINT hero_snapshots_raw_is_object
    CHECK (jsonb_typeof(raw) = 'object') NOT VALID;

ALTER TABLE hero_snapshots DROP CONSTRAINT hero_snapshots_error_count_nonnegative;
ALTER TABLE hero_snapshots
    ADD CONSTRAINT hero_snapshots_error_count_nonnegative
    CHECK (error_count >= 0) NOT VALID;
