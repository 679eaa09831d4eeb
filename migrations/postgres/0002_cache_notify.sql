-- Replicas cache manifests and tags in memory. Every change to a repository's tags, and every
-- manifest deletion, notifies the channel `berth_cache` with the repository's name; PostgreSQL
-- delivers notifications at commit, so each replica drops what it cached as soon as the change
-- is visible. `*` (a repository that is itself gone) means: forget everything.
CREATE FUNCTION berth_notify_cache() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    repo BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        repo := OLD.repository_id;
    ELSE
        repo := NEW.repository_id;
    END IF;
    PERFORM pg_notify('berth_cache',
                      COALESCE((SELECT name FROM repositories WHERE id = repo), '*'));
    RETURN NULL;
END
$$;

CREATE TRIGGER tags_notify_cache AFTER INSERT OR UPDATE OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION berth_notify_cache();
CREATE TRIGGER manifests_notify_cache AFTER DELETE ON manifests
    FOR EACH ROW EXECUTE FUNCTION berth_notify_cache();
