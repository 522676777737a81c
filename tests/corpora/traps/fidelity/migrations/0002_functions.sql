/* helpers /* nested; still a comment */ end of outer; */
CREATE FUNCTION setting_get(k text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT value FROM setting WHERE key = k; -- a ; in the body
$$;

CREATE FUNCTION setting_touch() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.note := coalesce(NEW.note, '') || $$;touched;$$;
    RETURN NEW;
END;
$fn$;

CREATE TRIGGER setting_touch BEFORE UPDATE ON setting
    FOR EACH ROW EXECUTE FUNCTION setting_touch();
