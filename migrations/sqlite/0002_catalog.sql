-- 0002_catalog: the metrics catalogue, experiments, and first exposures.
--
-- Definitions are stored as the API's JSON document (`doc`) plus the columns that are
-- queried (status, timestamps); src/core/ reads and validates the documents.
-- Per-user tables are keyed by user_id first so that a store sharded by user keeps
-- every uniqueness constraint local to one shard (ARCHITECTURE.md "Scaling out").

CREATE TABLE metrics (
    key        TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE experiments (
    key        TEXT PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('draft', 'running', 'paused', 'stopped', 'archived')),
    doc        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX experiments_status ON experiments (status, key);

-- Which metrics (and guardrails) an experiment uses: lets a metric deletion be refused
-- while an experiment still needs it.
CREATE TABLE experiment_metrics (
    metric     TEXT NOT NULL,
    experiment TEXT NOT NULL REFERENCES experiments (key) ON DELETE CASCADE,
    PRIMARY KEY (metric, experiment)
) WITHOUT ROWID;

-- The first exposure of a user to an experiment (the one that counts), and how many
-- later exposures named a different variant (data-quality "conflicting_exposures").
CREATE TABLE exposures (
    user_id    TEXT NOT NULL,
    experiment TEXT NOT NULL,
    variant    TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    conflicts  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, experiment)
) WITHOUT ROWID;
CREATE INDEX exposures_experiment ON exposures (experiment, variant, ts);
