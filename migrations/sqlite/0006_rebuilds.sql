-- 0006_rebuilds: roll-up rebuilds beside ingestion (issue 12).
--
-- A definition change (metric edit, experiment metrics, stop) no longer recomputes an
-- experiment's roll-ups inside its own transaction. It records a rebuild here, copies the
-- experiment's last complete roll-ups to the *_frozen tables (results read them until the
-- rebuild completes) and empties the live ones; the daemon then rebuilds the live roll-ups
-- in small chunks of users in user_id order, each chunk its own short transaction.
-- Ingestion keeps running: for a rebuilding experiment it updates the live roll-ups only for
-- users at or below the cursor (their rows are already under the new definition); rows of
-- the users above it are read from the raw tables when the chunk reaches them. So every row
-- counts once. The state is committed with each chunk: a crash resumes at the cursor.

CREATE TABLE rollup_rebuilds (
    experiment  TEXT PRIMARY KEY,
    cursor      TEXT NOT NULL DEFAULT '',   -- users <= cursor (binary order) are rebuilt
    users_done  INTEGER NOT NULL DEFAULT 0,
    users_total INTEGER NOT NULL DEFAULT 0, -- exposed users when it started (for progress)
    generation  INTEGER NOT NULL DEFAULT 1, -- bumped when a new change restarts it
    started_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE metric_stats_frozen (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    variant    TEXT NOT NULL,
    n          INTEGER NOT NULL DEFAULT 0,
    s          REAL NOT NULL DEFAULT 0,
    q          REAL NOT NULL DEFAULT 0,
    sx         REAL NOT NULL DEFAULT 0,
    qx         REAL NOT NULL DEFAULT 0,
    p          REAL NOT NULL DEFAULT 0,
    s_lo       REAL NOT NULL DEFAULT 0,  -- the double-double low parts of 0005
    q_lo       REAL NOT NULL DEFAULT 0,
    sx_lo      REAL NOT NULL DEFAULT 0,
    qx_lo      REAL NOT NULL DEFAULT 0,
    p_lo       REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, variant)
) WITHOUT ROWID;

CREATE TABLE metric_daily_frozen (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    variant    TEXT NOT NULL,
    day        INTEGER NOT NULL,
    dn         INTEGER NOT NULL DEFAULT 0,
    ds         REAL NOT NULL DEFAULT 0,
    dq         REAL NOT NULL DEFAULT 0,
    ds_lo      REAL NOT NULL DEFAULT 0,
    dq_lo      REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, metric, variant, day)
) WITHOUT ROWID;

CREATE TABLE exposure_stats_frozen (
    experiment TEXT NOT NULL,
    variant    TEXT NOT NULL,
    users      INTEGER NOT NULL DEFAULT 0,
    conflicts  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, variant)
) WITHOUT ROWID;

-- chunks walk one experiment's exposed users in user_id order
CREATE INDEX exposures_experiment_user ON exposures (experiment, user_id);
