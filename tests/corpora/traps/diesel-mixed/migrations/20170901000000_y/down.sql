ALTER TABLE device DROP COLUMN battery_level;
