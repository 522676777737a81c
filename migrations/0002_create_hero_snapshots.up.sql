-- 0002_create_hero_snapshots (up)
-- What: raw hero snapshots as uploaded by clients, one row per upload.
-- Why:  the ETL reads unprocessed rows, upserts the summary tables and marks
--       processed_at; failures bump error_count / last_error (details go to
--       etl_errors). raw is kept verbatim as jsonb; the GIN index serves the
--       ad-hoc containment queries (raw @> '{...}') used by support and the ETL.
-- The table is new and empty, so a plain (non-concurrent) index build is fine.
CREATE TABLE hero_snapshots (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL,
    raw          jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    error_count  integer     NOT NULL DEFAULT 0,
    last_error   text
);

CREATE INDEX hero_snapshots_raw_gin_idx
    ON hero_snapshots USING gin (raw);

CREATE INDEX hero_snapshots_user_id_created_at_idx
    ON hero_snapshots (user_id, created_at DESC);

COMMENT ON TABLE hero_snapshots IS 'Raw client hero snapshots; source of truth for the ETL.';
COMMENT ON COLUMN hero_snapshots.raw IS 'Verbatim snapshot payload (jsonb), GIN indexed.';
