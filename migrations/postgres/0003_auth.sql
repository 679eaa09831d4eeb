-- Identities, credentials and policies. Timestamps are Unix milliseconds.

CREATE TABLE principals (
    name       TEXT COLLATE "C" PRIMARY KEY,
    -- Changes when a principal is deleted and created again, so old tokens stop working.
    id         TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'robot')),
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

-- The secret is sealed (AES-256-GCM) under the server key: SigV4 needs it back.
CREATE TABLE access_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    principal  TEXT COLLATE "C" NOT NULL REFERENCES principals(name) ON DELETE CASCADE,
    secret     BYTEA NOT NULL,
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX access_keys_principal ON access_keys(principal);

CREATE TABLE identity_policies (
    principal  TEXT COLLATE "C" NOT NULL REFERENCES principals(name) ON DELETE CASCADE,
    name       TEXT COLLATE "C" NOT NULL,
    document   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (principal, name)
);

-- Resource policies: scope '' is the registry policy, any other scope a repository name.
CREATE TABLE resource_policies (
    scope      TEXT COLLATE "C" PRIMARY KEY,
    document   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Token signing keys (HMAC-SHA256), sealed under the server key; rotated.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    secret     BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- Refresh tokens are stored as SHA-256 of the token; revoked ones stay until they expire.
CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    principal  TEXT COLLATE "C" NOT NULL REFERENCES principals(name) ON DELETE CASCADE,
    access_key TEXT COLLATE "C" REFERENCES access_keys(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_principal ON refresh_tokens(principal);

-- One-time facts, such as "the first administrator was created" (so deleting it later sticks).
CREATE TABLE auth_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every replica keeps the tables above in memory and reloads them when this number moves.
CREATE TABLE auth_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO auth_generation (id, n) VALUES (1, 0);

CREATE FUNCTION berth_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_generation SET n = n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER principals_gen AFTER INSERT OR UPDATE OR DELETE ON principals
    FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER access_keys_gen AFTER INSERT OR UPDATE OR DELETE ON access_keys
    FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER identity_policies_gen AFTER INSERT OR UPDATE OR DELETE ON identity_policies
    FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER resource_policies_gen AFTER INSERT OR UPDATE OR DELETE ON resource_policies
    FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER signing_keys_gen AFTER INSERT OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
