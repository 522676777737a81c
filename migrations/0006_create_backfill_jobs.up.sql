-- 0006_create_backfill_jobs (up)
-- What: bookkeeping for data backfills.
-- Why:  backfills that fail part-way must be resumable (runbook: "record
--       failures in backfill_jobs for resume"), so each job keeps its status,
--       a resume cursor and progress counters.
CREATE TABLE backfill_jobs (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text        NOT NULL,
    status         text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    cursor         text,
    rows_processed bigint      NOT NULL DEFAULT 0,
    error_count    integer     NOT NULL DEFAULT 0,
    last_error     text,
    started_at     timestamptz,
    finished_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX backfill_jobs_name_created_at_idx
    ON backfill_jobs (name, created_at DESC);
