-- 0012_conflict_users: conflicting exposures counted as users, whatever the arrival order.
--
-- data_quality.conflicting_exposures counted exposures that differed from the user's
-- first exposure as stored when they arrived, so the count depended on arrival order
-- (control@20, v1@10, control@0 counted 2; in time order, 1) and on whether an exposure
-- after the stop arrived before it. It now counts the users exposed to more than one
-- variant before the stop. Each exposure row records conflict_ts: the earliest time of
-- an exposure of the user to another variant than the first one (NULL: none), which
-- arrival order cannot change; the user counts as conflicting while conflict_ts < stop.
-- `conflicts` stays the raw number of such arrivals.
--
-- Rows with conflicts before this migration get conflict_ts = ts (the time of the
-- conflicting exposure was not kept), and the per-variant roll-ups are recounted as users.
-- For an experiment whose rebuild is under way the live roll-ups hold only the users up to
-- its cursor (binary order; its chunks count the others), so only those are recounted.
ALTER TABLE exposures ADD COLUMN conflict_ts INTEGER;
UPDATE exposures SET conflict_ts = ts WHERE conflicts > 0;
UPDATE exposure_stats SET conflicts = (
    SELECT COUNT(*) FROM exposures x
    WHERE x.experiment = exposure_stats.experiment AND x.variant = exposure_stats.variant
      AND x.conflict_ts IS NOT NULL
      AND x.ts < COALESCE((SELECT json_extract(e.doc, '$.stopped_at') FROM experiments e
                           WHERE e.key = exposure_stats.experiment), 9223372036854775807)
      AND x.user_id <= COALESCE((SELECT r.cursor FROM rollup_rebuilds r
                                 WHERE r.experiment = exposure_stats.experiment), x.user_id));
