-- 0007_dimensions (PostgreSQL): dimension breakdowns (issue 13), the twin of
-- migrations/sqlite/0007_dimensions.sql: the values recorded at a user's first exposure
-- (exposure_dims, keyed by user first as every per-user table), the registry of distinct values
-- per (experiment, dimension) that caps them, and the per-value roll-ups with a `slot` per
-- daemon as the main roll-ups (readers sum the slots), plus their kept copies for rebuilds.

CREATE TABLE exposure_dims (
    user_id    TEXT NOT NULL,
    experiment TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (user_id, experiment, dimension)
);

CREATE TABLE dimension_values (
    experiment TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (experiment, dimension, value)
);

CREATE TABLE slice_stats (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    slot       INTEGER NOT NULL DEFAULT 0,
    n          BIGINT NOT NULL DEFAULT 0,
    s          DOUBLE PRECISION NOT NULL DEFAULT 0,
    q          DOUBLE PRECISION NOT NULL DEFAULT 0,
    sx         DOUBLE PRECISION NOT NULL DEFAULT 0,
    qx         DOUBLE PRECISION NOT NULL DEFAULT 0,
    p          DOUBLE PRECISION NOT NULL DEFAULT 0,
    s_lo       DOUBLE PRECISION NOT NULL DEFAULT 0,
    q_lo       DOUBLE PRECISION NOT NULL DEFAULT 0,
    sx_lo      DOUBLE PRECISION NOT NULL DEFAULT 0,
    qx_lo      DOUBLE PRECISION NOT NULL DEFAULT 0,
    p_lo       DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, dimension, value, variant, slot)
);

CREATE TABLE slice_exposure_stats (
    experiment TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    slot       INTEGER NOT NULL DEFAULT 0,
    users      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, dimension, value, variant, slot)
);

CREATE TABLE slice_stats_frozen (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    slot       INTEGER NOT NULL DEFAULT 0,
    n          BIGINT NOT NULL DEFAULT 0,
    s          DOUBLE PRECISION NOT NULL DEFAULT 0,
    q          DOUBLE PRECISION NOT NULL DEFAULT 0,
    sx         DOUBLE PRECISION NOT NULL DEFAULT 0,
    qx         DOUBLE PRECISION NOT NULL DEFAULT 0,
    p          DOUBLE PRECISION NOT NULL DEFAULT 0,
    s_lo       DOUBLE PRECISION NOT NULL DEFAULT 0,
    q_lo       DOUBLE PRECISION NOT NULL DEFAULT 0,
    sx_lo      DOUBLE PRECISION NOT NULL DEFAULT 0,
    qx_lo      DOUBLE PRECISION NOT NULL DEFAULT 0,
    p_lo       DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, dimension, value, variant, slot)
);

CREATE TABLE slice_exposure_stats_frozen (
    experiment TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    slot       INTEGER NOT NULL DEFAULT 0,
    users      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, dimension, value, variant, slot)
);
