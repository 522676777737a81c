UPDATE artifact SET x = 'sha256' WHERE x IS NULL;
ALTER TABLE artifact ALTER COLUMN x SET DEFAULT 'sha256', ALTER COLUMN x SET NOT NULL;
CREATE INDEX idx_artifact_x ON artifact (x, digest);
