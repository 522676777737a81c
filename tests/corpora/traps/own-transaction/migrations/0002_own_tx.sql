BEGIN;
ALTER TABLE job ADD COLUMN priority integer NOT NULL DEFAULT 0;
CREATE INDEX job_priority_idx ON job (priority);
COMMIT;

BEGIN;
CREATE TYPE job_state AS ENUM ('queued', 'running', 'done');
ALTER TABLE job ALTER COLUMN state DROP DEFAULT;
ALTER TABLE job ALTER COLUMN state TYPE job_state USING state::job_state;
ALTER TABLE job ALTER COLUMN state SET DEFAULT 'queued';
COMMIT;
