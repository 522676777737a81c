-- 0010_enforce_etl_errors_user_id_not_null (up)
-- Phase 3/3 (enforce): shipped one release after 0009, once the worker has
-- been writing user_id everywhere. If any row is still NULL this fails
-- loudly instead of guessing; re-run 0009's UPDATE and retry.
-- The check scan takes an ACCESS EXCLUSIVE lock briefly on a small table.
ALTER TABLE etl_errors ALTER COLUMN user_id SET NOT NULL;
