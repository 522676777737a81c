-- 0011_create_hero_snapshots_pending_idx (down)  ** NON-TRANSACTIONAL **
-- DROP INDEX CONCURRENTLY cannot run inside a transaction block either.
DROP INDEX CONCURRENTLY IF EXISTS hero_snapshots_pending_idx;
