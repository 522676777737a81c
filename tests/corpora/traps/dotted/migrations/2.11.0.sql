ALTER TABLE icinga_user ALTER COLUMN email SET NOT NULL;
DROP INDEX idx_icinga_user_email; CREATE UNIQUE INDEX idx_icinga_user_email ON icinga_user (lower(email));
