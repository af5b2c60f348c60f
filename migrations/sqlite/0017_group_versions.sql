-- 0017_group_versions: every saved group carries the version of its last write, so that a
-- catalogue reload reads the list of (key, version) and loads only the groups whose version
-- moved, instead of reading and hashing every group's text (8 groups of 100,000 values were
-- ~14 MB read and hashed on every edit of any one). The version is taken from a counter in
-- meta ('saved_group_version') bumped by every write of a group (store/sqlite/saved_groups.c):
-- it is never reused, a group deleted and created again under the same key included, so a
-- (key, version) pair names one stored text. Rows from before keep 0 until their next write;
-- a daemon older than this schema refuses writes (store.c), so none writes without a bump.
ALTER TABLE saved_groups ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
