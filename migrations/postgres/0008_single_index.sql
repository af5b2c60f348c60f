-- 0008_single_index (PostgreSQL): user_metrics keyed (experiment, user_id, metric), its second
-- index dropped (issue 17; docs/PERFORMANCE.md "Fourth pass"). As in the SQLite dialect: the
-- primary key (user_id, experiment, metric) and user_metrics_experiment (experiment, metric,
-- user_id) were two index insertions per new row; keyed (experiment, user_id, metric) the
-- one primary key serves the point reads and updates of ingestion (all three columns
-- given, or the ctid) and the per-experiment deletes of rebuilds and compaction. user_id
-- stays in the key, as the Citus path needs (docs/SCALING.md).
ALTER TABLE user_metrics DROP CONSTRAINT user_metrics_pkey;
ALTER TABLE user_metrics ADD PRIMARY KEY (experiment, user_id, metric);
DROP INDEX user_metrics_experiment;
