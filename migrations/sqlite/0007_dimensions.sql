-- 0007_dimensions: dimension breakdowns (issue 13, API.md "Results, v1.1").
--
-- An experiment lists up to 3 "dimensions" (attribute names). At a user's first exposure the
-- values of those attributes are recorded once (exposure_dims; later exposures never change
-- them), and the writer keeps per-value roll-ups beside the main ones, with the same deltas:
-- slice_stats (n and the double-double sums of metric_stats per value) and
-- slice_exposure_stats (exposed users per value and variant, for SRM per slice). Rebuilds
-- after a definition change recompute them with the main roll-ups (kept copies: *_frozen).
-- dimension_values registers the distinct values seen per (experiment, dimension): past a cap
-- new values are recorded as '(other)', so a hostile client cannot grow the tables without
-- bound. Existing experiments have no dimensions: nothing to backfill.

CREATE TABLE exposure_dims (
    user_id    TEXT NOT NULL,
    experiment TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (user_id, experiment, dimension)
) WITHOUT ROWID;

CREATE TABLE dimension_values (
    experiment TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (experiment, dimension, value)
) WITHOUT ROWID;

CREATE TABLE slice_stats (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    n          INTEGER NOT NULL DEFAULT 0,
    s          REAL NOT NULL DEFAULT 0,
    q          REAL NOT NULL DEFAULT 0,
    sx         REAL NOT NULL DEFAULT 0,
    qx         REAL NOT NULL DEFAULT 0,
    p          REAL NOT NULL DEFAULT 0,
    s_lo       REAL NOT NULL DEFAULT 0,
    q_lo       REAL NOT NULL DEFAULT 0,
    sx_lo      REAL NOT NULL DEFAULT 0,
    qx_lo      REAL NOT NULL DEFAULT 0,
    p_lo       REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, dimension, value, variant)
) WITHOUT ROWID;

CREATE TABLE slice_exposure_stats (
    experiment TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    users      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, dimension, value, variant)
) WITHOUT ROWID;

CREATE TABLE slice_stats_frozen (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    n          INTEGER NOT NULL DEFAULT 0,
    s          REAL NOT NULL DEFAULT 0,
    q          REAL NOT NULL DEFAULT 0,
    sx         REAL NOT NULL DEFAULT 0,
    qx         REAL NOT NULL DEFAULT 0,
    p          REAL NOT NULL DEFAULT 0,
    s_lo       REAL NOT NULL DEFAULT 0,
    q_lo       REAL NOT NULL DEFAULT 0,
    sx_lo      REAL NOT NULL DEFAULT 0,
    qx_lo      REAL NOT NULL DEFAULT 0,
    p_lo       REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, dimension, value, variant)
) WITHOUT ROWID;

CREATE TABLE slice_exposure_stats_frozen (
    experiment TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    users      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, dimension, value, variant)
) WITHOUT ROWID;
