ALTER TABLE director_host ADD COLUMN zone_id integer; CREATE TABLE director_zone (id serial PRIMARY KEY, object_name varchar(255) NOT NULL UNIQUE);
