INSERT INTO t VALUES ('a;b', 'it''s;');
SELECT ';' AS x;
