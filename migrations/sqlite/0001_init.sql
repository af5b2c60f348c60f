-- 0001_init: process metadata, API keys and the audit log.
-- Never edit a released migration: add a new numbered file instead.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- API keys: only the SHA-256 of the secret is stored. `prefix` (the first characters
-- of the secret) lets a human recognise a key in listings without revealing it.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer', 'sdk')),
    hash       BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    prefix     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Who did what: one row per change made through the API or the CLI.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          INTEGER NOT NULL,
    actor_id    TEXT NOT NULL,   -- key id, or 'cli' / 'system'
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,   -- e.g. key.create, experiment.start
    target_type TEXT NOT NULL,   -- key, experiment, metric
    target      TEXT NOT NULL,
    before_json TEXT,            -- NULL when the target did not exist
    after_json  TEXT             -- NULL when the target was deleted
);
CREATE INDEX audit_log_target ON audit_log (target_type, target, id);
