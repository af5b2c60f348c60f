-- 0010_hot_updates: nothing to do on SQLite.
--
-- The PostgreSQL schema's version 10 leaves room in user_metrics pages for updates that
-- touch no index (migrations/postgres/0010_hot_updates.sql). SQLite updates a row in place
-- in its B-tree and has no such setting; this version keeps the two dialects' numbers in
-- step.
SELECT 1;
