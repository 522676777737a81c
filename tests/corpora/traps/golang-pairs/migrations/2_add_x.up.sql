ALTER TABLE artifact ADD COLUMN x varchar(64);
