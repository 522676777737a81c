CREATE TABLE artifact (id SERIAL PRIMARY KEY, digest varchar(255) NOT NULL);
