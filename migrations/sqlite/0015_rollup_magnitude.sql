-- 0015_rollup_magnitude: how large the roll-up sums have been, so that a sum that lost
-- precision to a value that came and went is noticed (docs/STATISTICS.md "Numerics").
--
-- metric_stats, metric_daily and slice_stats keep Q = sum y^2 (and Qx, P) as double-doubles
-- moved by deltas (y1^2 - y0^2): a user whose value passes 1e15 and comes back adds and
-- takes away 1e30, and a double-double then keeps only ~1e30 * 2^-106 (about 0.01) of what
-- the other users' squares add: 6 users of 0.1 .. 0.6 showed a standard deviation of 0.05
-- instead of 0.1. hwm is the largest magnitude the row's Q, Qx and P (and the terms added to
-- them) have had: results read it with the sums and, when it says the sums cannot hold the
-- precision their centred sums need, compute the row from the users' stored values instead
-- and have the experiment's roll-ups rebuilt (src/api/results_exact.c). Rows written before
-- have 0, "never larger than now": they keep their sums until the experiment's next rebuild.
ALTER TABLE metric_stats ADD COLUMN hwm REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN hwm REAL NOT NULL DEFAULT 0;
ALTER TABLE slice_stats ADD COLUMN hwm REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_stats_frozen ADD COLUMN hwm REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN hwm REAL NOT NULL DEFAULT 0;
ALTER TABLE slice_stats_frozen ADD COLUMN hwm REAL NOT NULL DEFAULT 0;
