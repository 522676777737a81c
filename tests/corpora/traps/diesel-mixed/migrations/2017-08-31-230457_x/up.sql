CREATE TABLE device (
    dev_eui bytea PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenant (id) ON DELETE CASCADE
);
