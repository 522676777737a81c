CREATE INDEX idx_device_battery_level ON device (battery_level) WHERE battery_level IS NOT NULL;
