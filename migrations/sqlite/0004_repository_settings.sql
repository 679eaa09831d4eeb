-- Repository settings set by the ECR API (CreateRepository, PutImageTagMutability,
-- PutImageScanningConfiguration) and resource tags. A repository created implicitly by a push
-- gets the defaults.
ALTER TABLE repositories ADD COLUMN tag_mutability TEXT NOT NULL DEFAULT 'MUTABLE';
-- JSON list of {"filterType":"WILDCARD","filter":"..."}.
ALTER TABLE repositories ADD COLUMN mutability_exclusions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE repositories ADD COLUMN scan_on_push BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE repositories ADD COLUMN encryption_type TEXT NOT NULL DEFAULT 'AES256';
ALTER TABLE repositories ADD COLUMN kms_key TEXT;

CREATE TABLE repository_resource_tags (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (repository_id, key)
);
