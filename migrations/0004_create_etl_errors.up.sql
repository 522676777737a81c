-- 0004_create_etl_errors (up)
-- What: per-attempt ETL failure log.
-- Why:  hero_snapshots only keeps the latest error; etl_errors keeps history
--       for triage (runbook: "SELECT * FROM etl_errors ORDER BY created_at").
--       Errors belong to their snapshot and go away with it (ON DELETE CASCADE).
CREATE TABLE etl_errors (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    snapshot_id uuid        NOT NULL
                REFERENCES hero_snapshots (id) ON DELETE CASCADE,
    error_type  text        NOT NULL
                REFERENCES etl_error_types (code),
    message     text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- FK lookups / cascades from hero_snapshots.
CREATE INDEX etl_errors_snapshot_id_idx ON etl_errors (snapshot_id);
-- "Recent errors" queries.
CREATE INDEX etl_errors_created_at_idx ON etl_errors (created_at DESC);
