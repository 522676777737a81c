ALTER TABLE device ADD COLUMN battery_level numeric(5, 2);
