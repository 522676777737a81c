-- 0009_backfill_etl_errors_user_id (down)
-- Return to the post-0008 state: user_id NULL again and the job record gone.
-- Note this also clears values written by the new worker since 0008; they are
-- fully derivable from hero_snapshots, so re-running 0009 restores them.
UPDATE etl_errors SET user_id = NULL WHERE user_id IS NOT NULL;
DELETE FROM backfill_jobs WHERE name = '0009_backfill_etl_errors_user_id';
