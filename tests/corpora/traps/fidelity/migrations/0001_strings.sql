CREATE TABLE setting (
    key text PRIMARY KEY,
    value text NOT NULL DEFAULT 'a;b;c',
    note text DEFAULT E'it\'s; quoted'
);
COMMENT ON TABLE setting IS 'key/value pairs; one per line -- not a comment';
INSERT INTO setting (key, value, note) VALUES ('sep', ';', E'semi\'colon;\\'), ('q', '''', 'x');
CREATE VIEW setting_semicolons AS SELECT key FROM setting WHERE value LIKE '%;%';
