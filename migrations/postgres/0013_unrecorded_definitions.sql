-- 0013_unrecorded_definitions (PostgreSQL): rebuilds whose kept roll-ups' definitions
-- nobody recorded; see migrations/sqlite/0013_unrecorded_definitions.sql.
ALTER TABLE rollup_rebuilds ADD COLUMN defs_unknown INTEGER NOT NULL DEFAULT 1;
UPDATE rollup_rebuilds SET defs_unknown = 0
WHERE EXISTS (SELECT 1 FROM rebuild_metric_defs d WHERE d.experiment = rollup_rebuilds.experiment);
