CREATE INDEX idx_icinga_user_email ON icinga_user (email);
