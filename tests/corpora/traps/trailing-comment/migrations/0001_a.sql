CREATE TABLE account (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL
) -- one row per login
;
CREATE UNIQUE INDEX account_email_key ON account (lower(email));
