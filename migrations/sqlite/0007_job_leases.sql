-- Background jobs (src/jobs): the lease that lets one holder at a time run a singleton job. The
-- embedded deployment has one process, which always gets the lease; the table is the same on
-- both databases so that one statement serves both.
CREATE TABLE job_leases (
    name        TEXT PRIMARY KEY,
    -- The runner holding it (one per process: a random id taken at start).
    holder      TEXT NOT NULL,
    -- Unix milliseconds after which another runner may take it, unless renewed.
    expires_at  INTEGER NOT NULL,
    -- Unix milliseconds when this holder took it (kept across renewals).
    acquired_at INTEGER NOT NULL
);
