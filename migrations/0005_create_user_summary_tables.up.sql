-- 0005_create_user_summary_tables (up)
-- What: read-model tables maintained by the ETL.
-- Why:  the ETL upserts with INSERT ... ON CONFLICT, so each table's primary
--       key is exactly its natural upsert key:
--         user_profile_summary: one row per user         -> PK (user_id)
--         user_troops:          one row per user + troop -> PK (user_id, troop_id)
CREATE TABLE user_profile_summary (
    user_id           uuid        PRIMARY KEY,
    display_name      text,
    level             integer     NOT NULL DEFAULT 1,
    power             bigint      NOT NULL DEFAULT 0,
    troop_count       integer     NOT NULL DEFAULT 0,
    last_snapshot_id  uuid        REFERENCES hero_snapshots (id) ON DELETE SET NULL,
    last_processed_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_troops (
    user_id          uuid        NOT NULL
                     REFERENCES user_profile_summary (user_id) ON DELETE CASCADE,
    troop_id         text        NOT NULL,
    quantity         integer     NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    level            integer,
    last_snapshot_id uuid        REFERENCES hero_snapshots (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, troop_id)
);

-- FK support for ON DELETE SET NULL from hero_snapshots.
CREATE INDEX user_profile_summary_last_snapshot_id_idx
    ON user_profile_summary (last_snapshot_id);
CREATE INDEX user_troops_last_snapshot_id_idx
    ON user_troops (last_snapshot_id);
