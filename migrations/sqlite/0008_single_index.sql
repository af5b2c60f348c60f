-- 0008_single_index: fewer B-trees written per ingested event and per logged exposure
-- (issue 17; docs/PERFORMANCE.md "Fourth pass").
--
-- user_metrics was keyed (user_id, experiment, metric) with a second index on
-- (experiment, metric) for the per-experiment deletes of rebuilds and compaction: every new
-- row was written into two B-trees. Keyed (experiment, user_id, metric), the one primary key
-- serves both the point reads of ingestion (all three columns given) and the per-experiment
-- and per-chunk (experiment, user_id range) deletes, so the second index goes.
CREATE TABLE user_metrics_new (
    user_id    TEXT NOT NULL,
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    y_raw      REAL NOT NULL DEFAULT 0,
    x_raw      REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, user_id, metric)
) WITHOUT ROWID;
INSERT INTO user_metrics_new (user_id, experiment, metric, y_raw, x_raw)
    SELECT user_id, experiment, metric, y_raw, x_raw FROM user_metrics;
DROP TABLE user_metrics;
ALTER TABLE user_metrics_new RENAME TO user_metrics;

