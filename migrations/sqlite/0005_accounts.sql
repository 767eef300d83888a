-- Accounts, sessions, workshop classes, project members and API key scopes.
-- A studio with no rows in `users` is the local user's (on loopback);
-- once a user exists, every person signs in.

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    -- Lower-case; what people type to log in and to share a project.
    name                 TEXT NOT NULL UNIQUE,
    -- argon2id, in the PHC string format (parameters and salt included).
    password_hash        TEXT NOT NULL,
    is_admin             BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    password_changed_at  BIGINT NOT NULL
);

-- Signed-in browsers. Only a SHA-256 of each session token is stored, as
-- for API keys (tokens are 256 random bits).
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- A workshop's class. The owner (the instructor, an admin) sees its
-- students' projects read-only; students register with the join code,
-- which is kept in clear because the instructor hands it out again and again.
CREATE TABLE classes (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    owner_id    TEXT NOT NULL REFERENCES users(id),
    join_code   TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    -- Set when registration is closed; NULL while students may join.
    closed_at   BIGINT
);

CREATE TABLE class_members (
    class_id   TEXT NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at  BIGINT NOT NULL,
    PRIMARY KEY (class_id, user_id)
);
CREATE INDEX class_members_user ON class_members(user_id);

CREATE TABLE project_members (
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members(user_id);

-- Keys made before scopes existed opened the whole API: they stay `full`.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full'
    CHECK (scope IN ('ingestion', 'full'));
-- Who made the key: a key can do no more than its maker (board routes need
-- an admin). NULL: the studio's operator (the local user or the command line).
ALTER TABLE api_keys ADD COLUMN created_by TEXT REFERENCES users(id);
