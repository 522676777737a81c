CREATE TABLE icinga_user (name varchar(254) PRIMARY KEY, active smallint NOT NULL);
