-- 0003_ingestion (PostgreSQL): raw events, and the roll-ups that results are read from.
--
-- Roll-up rows carry a `slot`: each daemon adds its deltas to rows of its own slot (a
-- session advisory lock makes the slot exclusive), so daemons never wait on each other's
-- roll-up rows; readers sum the slots (sums merge by addition, as they merge across
-- Citus shards).

CREATE TABLE events (
    user_id TEXT NOT NULL,
    event   TEXT NOT NULL,
    ts      BIGINT NOT NULL,
    value   DOUBLE PRECISION NOT NULL,
    id      TEXT,            -- optional idempotency key, unique per user
    seq     BIGINT GENERATED ALWAYS AS IDENTITY  -- arrival order (rebuilds, compaction)
);
CREATE INDEX events_user ON events (user_id, event, ts);
CREATE UNIQUE INDEX events_idempotency ON events (user_id, id) WHERE id IS NOT NULL;

CREATE TABLE user_metrics (
    user_id    TEXT NOT NULL,
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    y_raw      DOUBLE PRECISION NOT NULL DEFAULT 0,
    x_raw      DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, experiment, metric)
);
-- (experiment, metric, user_id): rebuilds and compaction by experiment, and an exact match
-- for per-user lookups whichever of the two indexes the planner picks
CREATE INDEX user_metrics_experiment ON user_metrics (experiment, metric, user_id);

CREATE TABLE metric_stats (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    variant    TEXT NOT NULL,
    slot       INTEGER NOT NULL DEFAULT 0,
    n          BIGINT NOT NULL DEFAULT 0,
    s          DOUBLE PRECISION NOT NULL DEFAULT 0,
    q          DOUBLE PRECISION NOT NULL DEFAULT 0,
    sx         DOUBLE PRECISION NOT NULL DEFAULT 0,
    qx         DOUBLE PRECISION NOT NULL DEFAULT 0,
    p          DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, variant, slot)
);

CREATE TABLE metric_daily (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    variant    TEXT NOT NULL,
    day        BIGINT NOT NULL,
    slot       INTEGER NOT NULL DEFAULT 0,
    dn         BIGINT NOT NULL DEFAULT 0,
    ds         DOUBLE PRECISION NOT NULL DEFAULT 0,
    dq         DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, variant, day, slot)
);

CREATE TABLE exposure_stats (
    experiment TEXT NOT NULL,
    variant    TEXT NOT NULL,
    slot       INTEGER NOT NULL DEFAULT 0,
    users      BIGINT NOT NULL DEFAULT 0,
    conflicts  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, variant, slot)
);
