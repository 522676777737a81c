ALTER TABLE account ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
-- created_at is set by the database, never by the app