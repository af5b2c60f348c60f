-- 0017_group_versions (PostgreSQL): every saved group carries the version of its last write
-- (a counter in meta, 'saved_group_version', bumped by every write: never reused), so that a
-- catalogue reload loads only the groups whose version moved. See
-- migrations/sqlite/0017_group_versions.sql for the why. A constant default adds the column
-- without rewriting the table.
ALTER TABLE saved_groups ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
