-- 0005: magnitude-independent roll-up sums (issue 13, STATS.md "Numerics").
-- Every sum of metric_stats and metric_daily becomes a double-double: the stored column
-- keeps the rounded value, the new *_lo column what rounding lost, so that moments stay
-- exact for values of 1e12 +- 100 (a plain double sum of y^2 ~ 1e27 cannot hold a
-- variance part ~ 1e7). Existing rows keep their sums with lo = 0: their value is
-- unchanged and every later change is exact; a rebuild (any definition change, or the
-- stop) recomputes them exactly.
ALTER TABLE metric_stats ADD COLUMN s_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_stats ADD COLUMN q_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_stats ADD COLUMN sx_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_stats ADD COLUMN qx_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_stats ADD COLUMN p_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN ds_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dq_lo REAL NOT NULL DEFAULT 0;
