CREATE TABLE tenant (
    id uuid PRIMARY KEY,
    name varchar(100) NOT NULL,
    updated_at timestamp NOT NULL DEFAULT current_timestamp
);
SELECT diesel_manage_updated_at('tenant');
