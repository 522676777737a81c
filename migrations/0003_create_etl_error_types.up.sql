-- 0003_create_etl_error_types (up)
-- What: reference table of ETL error categories, seeded with the known set.
-- Why:  etl_errors.error_type (0004) references it, so a typo in the worker
--       cannot invent a new category that dashboards and alerts do not know.
--       New categories are added by a migration, not by the worker.
CREATE TABLE etl_error_types (
    code        text PRIMARY KEY,
    description text NOT NULL,
    retryable   boolean NOT NULL DEFAULT false
);

INSERT INTO etl_error_types (code, description, retryable) VALUES
    ('parse_error',      'Snapshot payload is not valid / not the expected shape', false),
    ('validation_error', 'Payload parsed but failed business validation',          false),
    ('upsert_conflict',  'Summary upsert lost a race or hit a constraint',          true),
    ('db_error',         'Transient database error while processing',               true),
    ('timeout',          'Processing exceeded the worker time budget',              true),
    ('unknown',          'Unclassified failure; see message',                       false);
