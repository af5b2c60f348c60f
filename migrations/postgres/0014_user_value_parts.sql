-- 0014_user_value_parts (PostgreSQL): a user's raw value is the exact sum of its events'
-- values, rounded once, whatever the order they arrived in and whichever path summed them.
-- See migrations/sqlite/0014_user_value_parts.sql for the why. PostgreSQL has no exact sum of
-- float8 (float8::numeric keeps 15 digits): the daemon sums the values in C.
--
-- The low parts are nearly always 0 and are stored as NULL (NULL = 0): a NULL takes a bit of
-- the row's null bitmap where a float8 takes 8 bytes. Columns without a default are added
-- without rewriting the table; the rows written before read as parts 0.
ALTER TABLE user_metrics ADD COLUMN y_lo DOUBLE PRECISION, ADD COLUMN y_lo2 DOUBLE PRECISION,
    ADD COLUMN x_lo DOUBLE PRECISION, ADD COLUMN x_lo2 DOUBLE PRECISION;
