-- Identities, credentials and policies. Timestamps are Unix milliseconds.

CREATE TABLE principals (
    name       TEXT PRIMARY KEY,
    -- Changes when a principal is deleted and created again, so old tokens stop working.
    id         TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'robot')),
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL
);

-- The secret is sealed (AES-256-GCM) under the server key: SigV4 needs it back.
CREATE TABLE access_keys (
    id         TEXT PRIMARY KEY,
    principal  TEXT NOT NULL REFERENCES principals(name) ON DELETE CASCADE,
    secret     BLOB NOT NULL,
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL
);
CREATE INDEX access_keys_principal ON access_keys(principal);

CREATE TABLE identity_policies (
    principal  TEXT NOT NULL REFERENCES principals(name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (principal, name)
);

-- Resource policies: scope '' is the registry policy, any other scope a repository name.
CREATE TABLE resource_policies (
    scope      TEXT PRIMARY KEY,
    document   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Token signing keys (HMAC-SHA256), sealed under the server key; rotated.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- Refresh tokens are stored as SHA-256 of the token; revoked ones stay until they expire.
CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    principal  TEXT NOT NULL REFERENCES principals(name) ON DELETE CASCADE,
    access_key TEXT REFERENCES access_keys(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_principal ON refresh_tokens(principal);

-- One-time facts, such as "the first administrator was created" (so deleting it later sticks).
CREATE TABLE auth_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every server keeps the tables above in memory and reloads them when this number moves.
CREATE TABLE auth_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO auth_generation (id, n) VALUES (1, 0);

CREATE TRIGGER principals_gen_i AFTER INSERT ON principals BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER principals_gen_u AFTER UPDATE ON principals BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER principals_gen_d AFTER DELETE ON principals BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER access_keys_gen_i AFTER INSERT ON access_keys BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER access_keys_gen_u AFTER UPDATE ON access_keys BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER access_keys_gen_d AFTER DELETE ON access_keys BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER identity_policies_gen_i AFTER INSERT ON identity_policies BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER identity_policies_gen_u AFTER UPDATE ON identity_policies BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER identity_policies_gen_d AFTER DELETE ON identity_policies BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER resource_policies_gen_i AFTER INSERT ON resource_policies BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER resource_policies_gen_u AFTER UPDATE ON resource_policies BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER resource_policies_gen_d AFTER DELETE ON resource_policies BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER signing_keys_gen_i AFTER INSERT ON signing_keys BEGIN UPDATE auth_generation SET n = n + 1; END;
CREATE TRIGGER signing_keys_gen_d AFTER DELETE ON signing_keys BEGIN UPDATE auth_generation SET n = n + 1; END;
