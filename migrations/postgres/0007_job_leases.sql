-- Background jobs (src/jobs): the lease that lets exactly one replica at a time run a singleton
-- job (upload expiry; later garbage collection, lifecycle runs, event delivery). Taken and
-- renewed with one conditional upsert; a holder that stops renewing loses it after its TTL.
CREATE TABLE job_leases (
    name        TEXT COLLATE "C" PRIMARY KEY,
    -- The runner holding it (one per replica: a random id taken at start).
    holder      TEXT COLLATE "C" NOT NULL,
    -- Unix milliseconds after which another replica may take it, unless renewed.
    expires_at  BIGINT NOT NULL,
    -- Unix milliseconds when this holder took it (kept across renewals).
    acquired_at BIGINT NOT NULL
);
