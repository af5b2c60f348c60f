-- 0001_init (PostgreSQL): process metadata, API keys and the audit log.
-- Never edit a released migration: add a new numbered file instead.
-- Types: BIGINT millisecond timestamps, BYTEA hashes, identity columns (not SERIAL).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- API keys: only the SHA-256 of the secret is stored. `prefix` (the first characters
-- of the secret) lets a human recognise a key in listings without revealing it.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer', 'sdk')),
    hash       BYTEA NOT NULL UNIQUE CHECK (length(hash) = 32),
    prefix     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Who did what: one row per change made through the API or the CLI.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts          BIGINT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target      TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX audit_log_target ON audit_log (target_type, target, id);
