-- 0002_create_hero_snapshots (down)
-- Drops the table together with its indexes and comments.
DROP TABLE IF EXISTS hero_snapshots;
