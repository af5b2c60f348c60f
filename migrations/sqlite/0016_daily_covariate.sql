-- 0016_daily_covariate: metric_daily keeps the CUPED sums, so that each day of the time series
-- is computed as the results are (CUPED, the correction's family, docs/STATISTICS.md "Time
-- series").
--
-- metric_daily is metric_stats partitioned by the day of the users' first exposure: it kept
-- n, S and Q only, so a day could not be CUPED-adjusted and the series' last day differed from
-- the results (CUPED on by default). It now keeps Sx = sum x, Qx = sum x^2 and P = sum x*y as
-- metric_stats does (double-doubles: the *_lo columns hold what rounding lost). xsums is 1 on
-- every row written since (it is set by the INSERT only): a row of 0 was created before, or
-- by a daemon that does not know these columns (a rolling upgrade), and misses covariate
-- changes. The results read such a row as untrusted: the experiment's series is summed from
-- the users' stored values and its roll-ups are rebuilt, after which every row has 1 (as
-- migration 0015's hwm; archived experiments, whose users' values compaction may have
-- removed, keep their rows: their series is shown without a covariate).
ALTER TABLE metric_daily ADD COLUMN dsx REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dqx REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dp REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dsx_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dqx_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN dp_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN xsums INTEGER NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dsx REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dqx REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dp REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dsx_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dqx_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN dp_lo REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN xsums INTEGER NOT NULL DEFAULT 0;
