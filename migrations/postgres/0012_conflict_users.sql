-- 0012_conflict_users (PostgreSQL): conflicting exposures counted as users, whatever the
-- arrival order. See migrations/sqlite/0012_conflict_users.sql for the why.
--
-- exposure_stats spreads a (experiment, variant) over slots: the recount goes to its
-- lowest slot, the others' conflicts to 0. For an experiment whose rebuild is under way
-- only the users up to its cursor are recounted (byte order, as the rebuild's chunks).
ALTER TABLE exposures ADD COLUMN conflict_ts BIGINT;
UPDATE exposures SET conflict_ts = ts WHERE conflicts > 0;
UPDATE exposure_stats SET conflicts = 0 WHERE conflicts <> 0;
UPDATE exposure_stats s SET conflicts = c.n
FROM (SELECT x.experiment, x.variant, COUNT(*) AS n
      FROM exposures x JOIN experiments e ON e.key = x.experiment
      LEFT JOIN rollup_rebuilds r ON r.experiment = x.experiment
      WHERE x.conflict_ts IS NOT NULL
        AND x.ts < COALESCE((e.doc::jsonb ->> 'stopped_at')::bigint, 9223372036854775807)
        AND (r.experiment IS NULL OR x.user_id COLLATE "C" <= r.cursor COLLATE "C")
      GROUP BY x.experiment, x.variant) c
WHERE s.experiment = c.experiment AND s.variant = c.variant
  AND s.slot = (SELECT MIN(m.slot) FROM exposure_stats m
                WHERE m.experiment = s.experiment AND m.variant = s.variant);
