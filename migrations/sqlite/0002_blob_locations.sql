-- Multi-backend blob storage and replica-independent uploads.

-- Where the blob store keeps a blob's bytes. NULL means the store's content-addressed default
-- (the digest itself), which is what the filesystem store uses.
ALTER TABLE blobs ADD COLUMN location TEXT;

-- The saved incremental hash state of an upload's bytes (NULL: rebuild it from the bytes).
ALTER TABLE uploads ADD COLUMN hash_state BLOB;
-- The blob store's own state for the upload (multipart upload id and parts on S3).
ALTER TABLE uploads ADD COLUMN storage_state TEXT NOT NULL DEFAULT '';
