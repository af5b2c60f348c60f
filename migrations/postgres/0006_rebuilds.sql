-- 0006_rebuilds (PostgreSQL): roll-up rebuilds beside ingestion (issue 12), the twin of
-- migrations/sqlite/0006_rebuilds.sql.
--
-- A definition change records a rebuild here, copies the experiment's last complete
-- roll-ups to the *_frozen tables (results read them until the rebuild completes) and
-- empties the live ones; the daemons then rebuild the live roll-ups in small chunks of users
-- in user_id order, each chunk its own short transaction. The order is byte order (COLLATE
-- "C"), as SQLite's and as the C code that compares user ids with the cursor (strcmp).
-- Several daemons may drive one rebuild: a chunk locks the rebuild's row (FOR UPDATE), so
-- chunks run one after the other and each starts at the cursor the last one committed.
-- The frozen tables keep the slot column: they are copies of the live rows, summed over
-- slots when read, as the live ones.

CREATE TABLE rollup_rebuilds (
    experiment  TEXT PRIMARY KEY,
    cursor      TEXT COLLATE "C" NOT NULL DEFAULT '', -- users <= cursor (byte order) are rebuilt
    users_done  BIGINT NOT NULL DEFAULT 0,
    users_total BIGINT NOT NULL DEFAULT 0, -- exposed users when it started (for progress)
    generation  BIGINT NOT NULL DEFAULT 1, -- bumped when a new change restarts it
    started_at  BIGINT NOT NULL
);

CREATE TABLE metric_stats_frozen (
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
    s_lo       DOUBLE PRECISION NOT NULL DEFAULT 0, -- the double-double low parts of 0005
    q_lo       DOUBLE PRECISION NOT NULL DEFAULT 0,
    sx_lo      DOUBLE PRECISION NOT NULL DEFAULT 0,
    qx_lo      DOUBLE PRECISION NOT NULL DEFAULT 0,
    p_lo       DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, variant, slot)
);

CREATE TABLE metric_daily_frozen (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    variant    TEXT NOT NULL,
    day        BIGINT NOT NULL,
    slot       INTEGER NOT NULL DEFAULT 0,
    dn         BIGINT NOT NULL DEFAULT 0,
    ds         DOUBLE PRECISION NOT NULL DEFAULT 0,
    dq         DOUBLE PRECISION NOT NULL DEFAULT 0,
    ds_lo      DOUBLE PRECISION NOT NULL DEFAULT 0,
    dq_lo      DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, variant, day, slot)
);

CREATE TABLE exposure_stats_frozen (
    experiment TEXT NOT NULL,
    variant    TEXT NOT NULL,
    slot       INTEGER NOT NULL DEFAULT 0,
    users      BIGINT NOT NULL DEFAULT 0,
    conflicts  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, variant, slot)
);

-- chunks walk one experiment's exposed users in byte order of user_id
CREATE INDEX exposures_experiment_user ON exposures (experiment, user_id COLLATE "C");
