CREATE TABLE director_host (id serial PRIMARY KEY, object_name varchar(255) NOT NULL);
