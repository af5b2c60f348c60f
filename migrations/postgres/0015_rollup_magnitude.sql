-- 0015_rollup_magnitude (PostgreSQL): how large the roll-up sums have been, so that a sum
-- that lost precision to a value that came and went is noticed. See
-- migrations/sqlite/0015_rollup_magnitude.sql for the why. One column per row of each slot
-- (readers take the largest); a constant default adds it without rewriting the tables. Rows
-- written before, and rows a daemon without this column writes during a rolling upgrade,
-- have 0: they keep their sums until the experiment's next rebuild.
ALTER TABLE metric_stats ADD COLUMN hwm DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily ADD COLUMN hwm DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE slice_stats ADD COLUMN hwm DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_stats_frozen ADD COLUMN hwm DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE metric_daily_frozen ADD COLUMN hwm DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE slice_stats_frozen ADD COLUMN hwm DOUBLE PRECISION NOT NULL DEFAULT 0;
