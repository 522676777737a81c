DROP INDEX IF EXISTS splits_maturity_timestamp_idx;
