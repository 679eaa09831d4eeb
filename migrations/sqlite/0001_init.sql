-- Berth metadata, embedded (SQLite) flavour. Timestamps are Unix milliseconds.

CREATE TABLE repositories (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Global, content-addressed: one row per distinct blob whatever the number of repositories.
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- A blob is served, mounted and authorized through this link, never through global existence.
CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest        TEXT NOT NULL REFERENCES blobs(digest),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs(digest);

CREATE TABLE manifests (
    repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    artifact_type  TEXT,
    subject_digest TEXT,
    config_digest  TEXT,
    annotations    TEXT,
    total_size     INTEGER NOT NULL,
    content        BLOB NOT NULL,
    pushed_at      INTEGER NOT NULL,
    last_pulled_at INTEGER,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests(repository_id, subject_digest)
    WHERE subject_digest IS NOT NULL;

-- Edges walked by deletes, garbage collection and lifecycle.
CREATE TABLE manifest_blobs (
    repository_id   INTEGER NOT NULL,
    manifest_digest TEXT NOT NULL,
    blob_digest     TEXT NOT NULL,
    PRIMARY KEY (repository_id, manifest_digest, blob_digest),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_blobs_blob ON manifest_blobs(repository_id, blob_digest);

CREATE TABLE manifest_children (
    repository_id INTEGER NOT NULL,
    parent_digest TEXT NOT NULL,
    child_digest  TEXT NOT NULL,
    PRIMARY KEY (repository_id, parent_digest, child_digest),
    FOREIGN KEY (repository_id, parent_digest)
        REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_children_child ON manifest_children(repository_id, child_digest);

CREATE TABLE tags (
    repository_id   INTEGER NOT NULL,
    name            TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX tags_manifest ON tags(repository_id, manifest_digest);

CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    algorithm  TEXT NOT NULL,
    size       INTEGER NOT NULL,
    -- Set once the content is verified, just before it is moved into place: a retry after a
    -- crash at that point completes the upload instead of losing it.
    digest     TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX uploads_updated ON uploads(updated_at);
