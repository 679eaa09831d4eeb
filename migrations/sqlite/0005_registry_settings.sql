-- Registry-wide configuration set through the ECR API (scanning, replication, account
-- settings): one JSON document per name.
CREATE TABLE registry_settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A repository's lifecycle policy (validated text, stored as given) and when a lifecycle run
-- last evaluated it.
ALTER TABLE repositories ADD COLUMN lifecycle_policy TEXT;
ALTER TABLE repositories ADD COLUMN lifecycle_evaluated_at INTEGER;

-- The last lifecycle policy preview of each repository: the policy it evaluated and its
-- results (a JSON list), computed when it was started.
CREATE TABLE lifecycle_previews (
    repository_id INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    policy_text   TEXT NOT NULL,
    status        TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    results       TEXT NOT NULL
);
