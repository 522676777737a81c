ALTER TABLE setting ADD COLUMN updated_at timestamptz;
