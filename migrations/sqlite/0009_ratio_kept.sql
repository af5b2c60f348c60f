-- 0009_ratio_kept: ratio metrics keep their last complete sums during a rebuild.
--
-- A ratio metric is computed from its parts' per-user values (the delta method needs each
-- user's cross product), not from a roll-up, and a rebuild's chunks rewrite those values
-- user range by user range. So before the first chunk, the daemon's rebuilder sums every
-- ratio metric of the experiment per variant (and per value of each of its dimensions)
-- from the values as they were, and keeps them here; results read them until the rebuild
-- ends, as they read the *_frozen roll-ups of migration 0006. `ratios_kept` says the sums
-- were kept (only before any chunk ran: rebuild.c).
ALTER TABLE rollup_rebuilds ADD COLUMN ratios_kept INTEGER NOT NULL DEFAULT 0;

CREATE TABLE ratio_kept (
    experiment  TEXT NOT NULL,
    metric      TEXT NOT NULL,  -- the ratio metric
    numerator   TEXT NOT NULL,  -- its parts when the sums were kept
    denominator TEXT NOT NULL,
    dimension   TEXT NOT NULL,  -- '' = the whole experiment
    value       TEXT NOT NULL,  -- the dimension's value ('' with variant '': the marker
    variant     TEXT NOT NULL,  --   row saying this dimension was kept)
    n           INTEGER NOT NULL,
    s REAL NOT NULL, q REAL NOT NULL, sx REAL NOT NULL, qx REAL NOT NULL, p REAL NOT NULL,
    s_lo REAL NOT NULL, q_lo REAL NOT NULL, sx_lo REAL NOT NULL, qx_lo REAL NOT NULL,
    p_lo REAL NOT NULL,
    PRIMARY KEY (experiment, metric, dimension, value, variant)
) WITHOUT ROWID;
