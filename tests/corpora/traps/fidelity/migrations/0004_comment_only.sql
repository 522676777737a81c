-- This migration used to add an index on setting(value); it was dropped
-- again before release. Kept so that version numbers stay contiguous.
/* CREATE INDEX setting_value_idx ON setting (value); */
