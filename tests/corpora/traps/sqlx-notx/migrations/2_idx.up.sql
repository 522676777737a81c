-- no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS splits_maturity_timestamp_idx ON splits USING HASH (maturity_timestamp)