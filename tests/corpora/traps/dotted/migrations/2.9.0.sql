ALTER TABLE icinga_user ADD COLUMN email varchar(254);
