-- Berth metadata, production (PostgreSQL) flavour: the same model as migrations/sqlite after
-- 0002. Timestamps are Unix milliseconds. Several replicas share this database.
--
-- Names and digests are COLLATE "C": listings page by `name > $last ORDER BY name`, which must
-- sort bytewise exactly as SQLite does (whatever the database's default locale) and be an
-- index range scan; "C" comparisons are also plain memcmp, the cheapest there is.

CREATE TABLE repositories (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- Global, content-addressed: one row per distinct blob whatever the number of repositories.
CREATE TABLE blobs (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Where the blob store keeps the bytes. NULL means the store's content-addressed default
    -- (the digest itself), which is what the filesystem store uses.
    location   TEXT
);

-- A blob is served, mounted and authorized through this link, never through global existence.
CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest        TEXT COLLATE "C" NOT NULL REFERENCES blobs(digest),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs(digest);

CREATE TABLE manifests (
    repository_id  BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest         TEXT COLLATE "C" NOT NULL,
    media_type     TEXT NOT NULL,
    artifact_type  TEXT,
    subject_digest TEXT COLLATE "C",
    config_digest  TEXT COLLATE "C",
    annotations    TEXT,
    total_size     BIGINT NOT NULL,
    content        BYTEA NOT NULL,
    pushed_at      BIGINT NOT NULL,
    last_pulled_at BIGINT,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests(repository_id, subject_digest)
    WHERE subject_digest IS NOT NULL;

-- Edges walked by deletes, garbage collection and lifecycle.
CREATE TABLE manifest_blobs (
    repository_id   BIGINT NOT NULL,
    manifest_digest TEXT COLLATE "C" NOT NULL,
    blob_digest     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repository_id, manifest_digest, blob_digest),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_blobs_blob ON manifest_blobs(repository_id, blob_digest);

CREATE TABLE manifest_children (
    repository_id BIGINT NOT NULL,
    parent_digest TEXT COLLATE "C" NOT NULL,
    child_digest  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repository_id, parent_digest, child_digest),
    FOREIGN KEY (repository_id, parent_digest)
        REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_children_child ON manifest_children(repository_id, child_digest);

-- The primary key is also the listing index: `repository_id = $1 AND name > $2 ORDER BY name`.
CREATE TABLE tags (
    repository_id   BIGINT NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    manifest_digest TEXT COLLATE "C" NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX tags_manifest ON tags(repository_id, manifest_digest);

CREATE TABLE uploads (
    id            TEXT COLLATE "C" PRIMARY KEY,
    repository    TEXT NOT NULL,
    algorithm     TEXT NOT NULL,
    size          BIGINT NOT NULL,
    -- Set once the content is verified, just before it is moved into place: a retry after a
    -- crash at that point completes the upload instead of losing it.
    digest        TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    -- The saved incremental hash state of the bytes so far (NULL: rebuild it from the bytes).
    hash_state    BYTEA,
    -- The blob store's own state for the upload (multipart upload id and parts on S3).
    storage_state TEXT NOT NULL DEFAULT ''
);
CREATE INDEX uploads_updated ON uploads(updated_at);
