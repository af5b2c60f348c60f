-- 0002_catalog (PostgreSQL): the metrics catalogue, experiments, and first exposures.
-- The catalogue tables are small and read by every daemon (Citus: reference tables);
-- per-user tables are keyed by user_id first and every uniqueness constraint includes
-- user_id (Citus: distributed by user_id, co-located). docs/SCALING.md has the DDL.

CREATE TABLE metrics (
    key        TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE experiments (
    key        TEXT PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('draft', 'running', 'paused', 'stopped', 'archived')),
    doc        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX experiments_status ON experiments (status, key);

CREATE TABLE experiment_metrics (
    metric     TEXT NOT NULL,
    experiment TEXT NOT NULL REFERENCES experiments (key) ON DELETE CASCADE,
    PRIMARY KEY (metric, experiment)
);

-- The first exposure of a user to an experiment (the one that counts), and how many
-- later exposures named a different variant.
CREATE TABLE exposures (
    user_id    TEXT NOT NULL,
    experiment TEXT NOT NULL,
    variant    TEXT NOT NULL,
    ts         BIGINT NOT NULL,
    conflicts  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, experiment)
);
CREATE INDEX exposures_experiment ON exposures (experiment, variant, ts);
