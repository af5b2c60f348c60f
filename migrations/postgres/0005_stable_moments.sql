-- 0005 (PostgreSQL): magnitude-independent roll-up sums (issue 13, STATS.md "Numerics"), as
-- migrations/sqlite/0005: every sum of metric_stats and metric_daily becomes a double-double
-- (the column keeps the rounded value, *_lo what rounding lost).
ALTER TABLE metric_stats ADD COLUMN s_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_stats ADD COLUMN q_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_stats ADD COLUMN sx_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_stats ADD COLUMN qx_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_stats ADD COLUMN p_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN ds_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dq_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
