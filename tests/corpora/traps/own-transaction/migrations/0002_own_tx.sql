-- The new label must be committed before the index below may use it.
BEGIN;
ALTER TYPE job_state ADD VALUE 'failed' AFTER 'running';
ALTER TABLE job ADD COLUMN priority integer NOT NULL DEFAULT 0;
COMMIT;

BEGIN;
CREATE INDEX job_failed_idx ON job (priority, id) WHERE state = 'failed';
COMMENT ON INDEX job_failed_idx IS 'failed jobs; retried by priority';
COMMIT;
