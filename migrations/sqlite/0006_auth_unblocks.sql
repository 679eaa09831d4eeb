-- `berth auth unblock`: requests to forget failed authentications (of a source address or a
-- user name). Failure counts live in each server's memory, so the command leaves a row here;
-- every server applies each row once, on the reload its insertion triggers. Rows are deleted
-- by later unblocks once no lockout they could lift can still be running.
CREATE TABLE auth_unblocks (
    -- AUTOINCREMENT: an id is never reused, so a server never mistakes a new row for one it
    -- has applied.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('address', 'user')),
    target     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX auth_unblocks_created_at ON auth_unblocks(created_at);

CREATE TRIGGER auth_unblocks_gen_i AFTER INSERT ON auth_unblocks BEGIN UPDATE auth_generation SET n = n + 1; END;
