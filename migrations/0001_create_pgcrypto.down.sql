-- 0001_create_pgcrypto (down)
-- Drops pgcrypto. No RESTRICT override: this fails loudly if anything outside
-- this chain still depends on the extension, which is what we want.
DROP EXTENSION IF EXISTS pgcrypto;
