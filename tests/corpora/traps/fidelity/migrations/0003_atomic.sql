CREATE FUNCTION setting_count(prefix text) RETURNS bigint
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT count(*) FROM setting WHERE key LIKE prefix || '%';
END;

CREATE PROCEDURE setting_put(k text, v text)
LANGUAGE sql
BEGIN ATOMIC
    DELETE FROM setting WHERE key = k;
    INSERT INTO setting (key, value) VALUES (k, v);
END;
CREATE TABLE after_atomic (id int /* ; */ PRIMARY KEY);
