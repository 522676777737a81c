DROP INDEX idx_device_battery_level;
