-- 0013_unrecorded_definitions: rebuilds whose kept roll-ups' definitions nobody recorded.
--
-- Migration 0011 records, from then on, the metric definitions a rebuild's kept roll-ups
-- were built with. A rebuild begun before it (by a version without 0011, paused or long,
-- then upgraded) has kept roll-ups of definitions that were not recorded: read with
-- today's (a count metric made binomial: its counts as conversions), every results read of
-- the experiment answered 400 until the rebuild ended. Such a rebuild is marked here, and
-- results report its metrics without statistics, with a warning, until it ends
-- (store_rebuild_metric_get answers 2; results.c). The default 1 also marks the rows a
-- daemon that does not know this column inserts (a rolling upgrade, PostgreSQL); this
-- version inserts 0 (rebuild.c). A rebuild under way that recorded a definition was begun
-- by a version with 0011: not marked. One that recorded none (an experiment's metrics
-- changed, or stopped) cannot be told from an older one: marked.
ALTER TABLE rollup_rebuilds ADD COLUMN defs_unknown INTEGER NOT NULL DEFAULT 1;
UPDATE rollup_rebuilds SET defs_unknown = 0
WHERE EXISTS (SELECT 1 FROM rebuild_metric_defs d WHERE d.experiment = rollup_rebuilds.experiment);
