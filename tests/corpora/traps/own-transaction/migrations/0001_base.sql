CREATE TABLE job (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'queued');
