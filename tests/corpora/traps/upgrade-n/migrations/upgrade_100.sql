ALTER TABLE director_host ADD CONSTRAINT director_host_zone FOREIGN KEY (zone_id) REFERENCES director_zone (id) ON DELETE RESTRICT;
