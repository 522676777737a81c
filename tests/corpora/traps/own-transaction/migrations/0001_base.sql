CREATE TYPE job_state AS ENUM ('queued', 'running', 'done');
CREATE TABLE job (id bigserial PRIMARY KEY, state job_state NOT NULL DEFAULT 'queued');
