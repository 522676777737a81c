-- 0009_backfill_etl_errors_user_id (up)
-- Phase 2/3 (backfill): copy user_id from the owning snapshot, set-based.
-- etl_errors is small and append-only (measured at a few 10k rows), so a
-- single UPDATE ... FROM inside the migration is acceptable; larger tables
-- would get a batched worker job instead. The run is recorded in
-- backfill_jobs for the audit trail. Only rows still NULL are touched, so
-- rows already written by the new worker are left alone.
WITH updated AS (
    UPDATE etl_errors AS e
       SET user_id = s.user_id
      FROM hero_snapshots AS s
     WHERE s.id = e.snapshot_id
       AND e.user_id IS NULL
    RETURNING e.id
)
INSERT INTO backfill_jobs (name, status, rows_processed, started_at, finished_at)
SELECT '0009_backfill_etl_errors_user_id', 'completed', count(*), now(), now()
  FROM updated;
