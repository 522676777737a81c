SELECT E'a\';b', E'\n;';
SELECT 2;
