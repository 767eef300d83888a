-- Capture links: short-lived credentials that let a phone upload photos to
-- one project (the QR code on the Capture panel). Only a SHA-256 of the
-- token is stored, as for API keys.

CREATE TABLE capture_links (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX capture_links_project ON capture_links(project_id, expires_at);
