-- `berth auth unblock`: requests to forget failed authentications (of a source address or a
-- user name). Failure counts live in each replica's memory, so the command leaves a row here;
-- every replica applies each row once, on the reload its insertion triggers. Rows are deleted
-- by later unblocks once no lockout they could lift can still be running.
CREATE TABLE auth_unblocks (
    -- An identity never reuses a value, so a replica never mistakes a new row for one it has
    -- applied (replicas track the ids they applied, not the highest: ids may commit out of
    -- order).
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('address', 'user')),
    target     TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX auth_unblocks_created_at ON auth_unblocks(created_at);

CREATE TRIGGER auth_unblocks_gen AFTER INSERT ON auth_unblocks
    FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
