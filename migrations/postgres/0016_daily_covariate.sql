-- 0016_daily_covariate (PostgreSQL): metric_daily keeps the CUPED sums Sx, Qx, P (and their
-- double-double low parts) as metric_stats does, so that each day of the time series is
-- computed as the results are. See migrations/sqlite/0016_daily_covariate.sql for the why.
-- Constant defaults add the columns without rewriting the tables. xsums is 1 on every row
-- inserted since (per slot): a row of 0 was created before, or by a daemon without these
-- columns during a rolling upgrade; the results read it as untrusted (the series is summed
-- from the users' stored values and the experiment's roll-ups are rebuilt).
ALTER TABLE metric_daily ADD COLUMN dsx DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dqx DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dp DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dsx_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dqx_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dp_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN xsums SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dsx DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dqx DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dp DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dsx_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dqx_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dp_lo DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN xsums SMALLINT NOT NULL DEFAULT 0;
