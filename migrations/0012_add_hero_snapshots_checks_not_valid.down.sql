-- 0012_add_hero_snapshots_checks_not_valid (down)
ALTER TABLE hero_snapshots DROP CONSTRAINT IF EXISTS hero_snapshots_error_count_nonnegative;
ALTER TABLE hero_snapshots DROP CONSTRAINT IF EXISTS hero_snapshots_raw_is_object;
