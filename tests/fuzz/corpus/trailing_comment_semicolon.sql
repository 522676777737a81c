ALTER TABLE t ADD COLUMN c int -- add c
;
SELECT 1;
