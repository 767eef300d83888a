-- Projects, API keys, samples, impulses, models and the job queue.
-- Ids are UUID strings, times are Unix milliseconds, JSON is TEXT:
-- the same representation as the PostgreSQL schema, so one set of queries
-- serves both databases.

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_project ON api_keys(project_id);

CREATE TABLE samples (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    file_name     TEXT NOT NULL,
    label         TEXT,
    category      TEXT NOT NULL CHECK (category IN ('training', 'testing')),
    sha256        TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    content_type  TEXT NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}',
    created_at    BIGINT NOT NULL
);
CREATE INDEX samples_project_created ON samples(project_id, created_at, id);
CREATE INDEX samples_project_category ON samples(project_id, category, created_at, id);
CREATE INDEX samples_project_label ON samples(project_id, label, category, created_at, id);
CREATE INDEX samples_project_sha ON samples(project_id, sha256);
CREATE INDEX samples_sha ON samples(sha256);

CREATE TABLE impulses (
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    config      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, version)
);

CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,
    payload           TEXT NOT NULL,
    status            TEXT NOT NULL,
    progress          DOUBLE PRECISION NOT NULL DEFAULT 0,
    error             TEXT,
    result            TEXT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    max_attempts      BIGINT NOT NULL,
    run_after         BIGINT NOT NULL,
    lease_until       BIGINT,
    worker_id         TEXT,
    cancel_requested  BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX jobs_claim ON jobs(status, run_after);
CREATE INDEX jobs_project ON jobs(project_id, created_at);

-- What a job reports while it runs: log lines, per-epoch metrics.
CREATE TABLE job_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX job_events_job ON job_events(job_id, id);

CREATE TABLE models (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version          BIGINT NOT NULL,
    impulse_version  BIGINT NOT NULL,
    job_id           TEXT NOT NULL,
    labels           TEXT NOT NULL,
    metrics          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    UNIQUE (project_id, version),
    UNIQUE (job_id)
);

-- Instance-wide values shared by every web server (e.g. the local session secret).
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
