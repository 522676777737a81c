-- 0011_create_hero_snapshots_pending_idx (up)  ** NON-TRANSACTIONAL **
-- What: partial index for the ETL work queue (unprocessed snapshots, oldest first).
-- Why:  hero_snapshots is large and hot; CONCURRENTLY avoids blocking ingest
--       writes during the build. CREATE INDEX CONCURRENTLY cannot run inside a
--       transaction block, so this file holds that one statement only and must
--       be applied without a wrapping transaction.
-- If the build fails it leaves an INVALID index: run the down, then retry.
CREATE INDEX CONCURRENTLY hero_snapshots_pending_idx ON hero_snapshots (created_at) WHERE processed_at IS NULL;
