-- 0003_ingestion: raw events, and the roll-ups that results are read from.
--
-- Design (docs/ARCHITECTURE.md "Attribution"): the writer maintains, incrementally and in
-- the same transaction as the rows that change them, each exposed user's per-metric raw
-- values (user_metrics) and per (experiment, metric, variant) sufficient statistics
-- (metric_stats, plus per-day deltas for time series). Results read a handful of rows
-- whatever the data size. Raw events are kept for late exposures, pre-period covariates,
-- idempotency and rebuilds when a definition changes.

CREATE TABLE events (
    user_id TEXT NOT NULL,
    event   TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    value   REAL NOT NULL,
    id      TEXT            -- optional idempotency key, unique per user
);
CREATE INDEX events_user ON events (user_id, event, ts);
CREATE UNIQUE INDEX events_idempotency ON events (user_id, id) WHERE id IS NOT NULL;

-- Raw per-user values of one metric in one experiment: y_raw in the metric window after
-- the first exposure, x_raw in the CUPED lookback before it (count of events, or sum of
-- their values for sum metrics; binomial and cap are applied when reading).
CREATE TABLE user_metrics (
    user_id    TEXT NOT NULL,
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    y_raw      REAL NOT NULL DEFAULT 0,
    x_raw      REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, experiment, metric)
) WITHOUT ROWID;
CREATE INDEX user_metrics_experiment ON user_metrics (experiment, metric);

-- Sufficient statistics (STATS.md): n, S = sum y, Q = sum y^2, Sx, Qx, P = sum x*y.
-- Sums merge across shards by addition.
CREATE TABLE metric_stats (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    variant    TEXT NOT NULL,
    n          INTEGER NOT NULL DEFAULT 0,
    s          REAL NOT NULL DEFAULT 0,
    q          REAL NOT NULL DEFAULT 0,
    sx         REAL NOT NULL DEFAULT 0,
    qx         REAL NOT NULL DEFAULT 0,
    p          REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, variant)
) WITHOUT ROWID;

-- Per-day changes of n, S, Q (UTC days since the epoch): cumulative sums give the time
-- series of results.
CREATE TABLE metric_daily (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    variant    TEXT NOT NULL,
    day        INTEGER NOT NULL,
    dn         INTEGER NOT NULL DEFAULT 0,
    ds         REAL NOT NULL DEFAULT 0,
    dq         REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, variant, day)
) WITHOUT ROWID;

-- Exposed users and conflicting exposures per (experiment, variant), maintained with the
-- exposures (SRM and data quality without counting millions of rows).
CREATE TABLE exposure_stats (
    experiment TEXT NOT NULL,
    variant    TEXT NOT NULL,
    users      INTEGER NOT NULL DEFAULT 0,
    conflicts  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, variant)
) WITHOUT ROWID;
INSERT INTO exposure_stats (experiment, variant, users, conflicts)
    SELECT experiment, variant, COUNT(*), SUM(conflicts) FROM exposures GROUP BY experiment, variant;
