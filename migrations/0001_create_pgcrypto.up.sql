-- 0001_create_pgcrypto (up)
-- What: enable the pgcrypto extension.
-- Why:  ids default to gen_random_uuid() and the ETL fingerprints snapshot
--       payloads with digest(). gen_random_uuid() is core since PG13, but the
--       preflight (scripts/migrate-preflight.sh) checks pgcrypto explicitly and
--       digest() only exists in pgcrypto. IF NOT EXISTS keeps this safe on
--       providers where the extension was pre-installed by an admin.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
