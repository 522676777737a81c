-- 0013_validate_hero_snapshots_checks (up)
-- What: validate the constraints added NOT VALID in 0012.
-- Why:  VALIDATE scans existing rows under SHARE UPDATE EXCLUSIVE, so ingest
--       keeps writing meanwhile. Fails (and changes nothing) if any legacy row
--       violates a check; fix those rows first, then retry.
ALTER TABLE hero_snapshots VALIDATE CONSTRAINT hero_snapshots_raw_is_object;
ALTER TABLE hero_snapshots VALIDATE CONSTRAINT hero_snapshots_error_count_nonnegative;
