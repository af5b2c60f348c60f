-- 0011_kept_definitions: the metric definitions that the kept roll-ups were built with.
--
-- While a rebuild runs, results read the roll-ups kept when it began (*_frozen, 0006; ratio
-- sums, 0009). They were built with the definitions before the change, so results must
-- read them with those definitions too: a count metric made binomial is not a binomial
-- metric's sums, and a ratio's sums kept after a part's new cap are not the sums kept
-- before it. A metric edit that rebuilds an experiment records here the metric's document
-- as it was before the edit, only the first time for each (experiment, metric) during one
-- rebuild: a restarted rebuild keeps the roll-ups of the first, so it keeps their
-- definitions too. Dropped with the kept roll-ups when the rebuild ends (rebuild.c).
CREATE TABLE rebuild_metric_defs (
    experiment TEXT NOT NULL,
    metric     TEXT NOT NULL,
    doc        TEXT NOT NULL,  -- the metric's JSON document (as in metrics.doc)
    PRIMARY KEY (experiment, metric)
) WITHOUT ROWID;
