-- 0011_kept_definitions (PostgreSQL): the metric definitions that the kept roll-ups were
-- built with; see migrations/sqlite/0011_kept_definitions.sql. Small rows keyed by
-- experiment (as the kept roll-ups: distributed by experiment in Citus, docs/SCALING.md).
CREATE TABLE rebuild_metric_defs (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (experiment, metric)
);
