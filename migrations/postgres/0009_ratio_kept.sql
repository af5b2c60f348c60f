-- 0009_ratio_kept (PostgreSQL): ratio metrics keep their last complete sums during a
-- rebuild; see migrations/sqlite/0009_ratio_kept.sql. Small rows keyed by experiment (as the
-- kept roll-ups: distributed by experiment in Citus, docs/SCALING.md).
ALTER TABLE rollup_rebuilds ADD COLUMN ratios_kept INTEGER NOT NULL DEFAULT 0;

CREATE TABLE ratio_kept (
    experiment  TEXT NOT NULL,
    metric      TEXT NOT NULL,
    numerator   TEXT NOT NULL,
    denominator TEXT NOT NULL,
    dimension   TEXT NOT NULL,
    value       TEXT NOT NULL,
    variant     TEXT NOT NULL,
    n           BIGINT NOT NULL,
    s DOUBLE PRECISION NOT NULL, q DOUBLE PRECISION NOT NULL, sx DOUBLE PRECISION NOT NULL,
    qx DOUBLE PRECISION NOT NULL, p DOUBLE PRECISION NOT NULL,
    s_lo DOUBLE PRECISION NOT NULL, q_lo DOUBLE PRECISION NOT NULL,
    sx_lo DOUBLE PRECISION NOT NULL, qx_lo DOUBLE PRECISION NOT NULL,
    p_lo DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (experiment, metric, dimension, value, variant)
);
