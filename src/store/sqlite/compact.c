/*
 * compact.c - keeping the SQLite database bounded without changing any result (store.h).
 *
 * Results are read from roll-ups; raw rows are kept only for what can still need them.
 * Compaction removes, in small transactions so that a running daemon is never blocked
 * for long:
 *   1. per-user rows (exposures, user_metrics) of archived experiments whose roll-ups are
 *      complete: their roll-ups stay, so their results are unchanged, and an archived
 *      experiment is never rebuilt again. One archived while the rebuild of its stop is still
 *      running (archiving does not wait for it) is left alone: the rebuild recomputes its
 *      roll-ups from these rows, and removing them under it left 32 of 5,000 users. So is one
 *      that analyses a ratio metric (metric or guardrail): a ratio has no roll-up, its results,
 *      breakdowns and days sum its parts' per-user values on each read (results_ratio.c), and
 *      removing them made every ratio read 0 users (RELIABILITY.md AG). A metric's type cannot
 *      change while an archived experiment uses it (metrics.c check_frozen_users);
 *   2. events older than the horizon of users with no exposure in any live experiment (not
 *      archived, or archived and still rebuilding): no existing exposure can count them, and
 *      a future exposure (t0 >= now) looks back at most `horizon` (>= the longest CUPED
 *      lookback + slack);
 * then checkpoints and truncates the WAL (checkpoint_truncate: reported when readers keep it
 * from completing). Idempotency keys of removed events are forgotten: a retry arriving after
 * the horizon would be stored again.
 */
#include <stdio.h>
#include <time.h>

#include "bunsen/util.h"
#include "sqlite_int.h"

/* Rows per transaction: a few ms of the write lock (bench/compact.sh). The daemon's writer
 * waits for the lock meanwhile; after each transaction compaction leaves the lock free for as
 * long as it held it, and at least PAUSE_MIN_MS, more than the busy handler's interval
 * (SQLITE_BUSY_POLL_MS, db.c), so a waiting writer takes it then: a writer waits at most about
 * one chunk, and compaction takes at most half of the write lock's time. 10,000-row chunks
 * back to back, free for microseconds between them, kept the writer waiting 2-5 s (once a
 * 503 "database is locked") under SQLite's own busy handler, which retried every 100 ms. */
#define CHUNK        SQLITE_COMPACT_CHUNK
#define PAUSE_MIN_MS (2 * SQLITE_BUSY_POLL_MS)

/* the final checkpoint: tries, how long each may hold off writers, the pause between them */
#define CKPT_TRIES    10
#define CKPT_WAIT_MS  100
#define CKPT_PAUSE_MS 250

/* experiments that analyse a ratio metric (experiment_metrics lists guardrails too) */
#define RATIO_USERS                                                                                \
    "(SELECT u.experiment FROM experiment_metrics u JOIN metrics m ON m.key = u.metric WHERE "     \
    "json_extract(m.doc, '$.type') = 'ratio')"
/* archived experiments whose roll-ups are complete (no rebuild row) and answer every result
 * (no ratio metric): checked in the deleting transaction, and an archived experiment never
 * starts a rebuild again */
#define DONE_ARCHIVED                                                                              \
    "(SELECT key FROM experiments WHERE status = 'archived' AND key NOT IN (SELECT experiment "    \
    "FROM rollup_rebuilds) AND key NOT IN " RATIO_USERS ")"
/* WITHOUT ROWID tables: delete by primary key, a chunk at a time (row-value IN). */
static const char SQL_ARCHIVED_UM[] =
    "DELETE FROM user_metrics WHERE (user_id, experiment, metric) IN (SELECT user_id, "
    "experiment, metric FROM user_metrics WHERE experiment IN " DONE_ARCHIVED " LIMIT ?1)";
static const char SQL_ARCHIVED_EXPO[] =
    "DELETE FROM exposures WHERE (user_id, experiment) IN (SELECT user_id, experiment FROM "
    "exposures WHERE experiment IN " DONE_ARCHIVED " LIMIT ?1)";
/* the dimension values recorded at first exposure go with the exposures (migration 0007) */
static const char SQL_ARCHIVED_DIMS[] =
    "DELETE FROM exposure_dims WHERE (user_id, experiment, dimension) IN (SELECT user_id, "
    "experiment, dimension FROM exposure_dims WHERE experiment IN " DONE_ARCHIVED " LIMIT ?1)";
/* events: one window of rowids per transaction, so each row is looked at once; a window with
 * none to remove is found by a read, without taking the write lock or pausing (a large events
 * table with few old rows is mostly such windows) */
#define OLD_EVENTS                                                                                 \
    "FROM events WHERE rowid >= ?1 AND rowid < ?2 AND ts < ?3 AND NOT EXISTS "                     \
    "(SELECT 1 FROM exposures x JOIN experiments e ON e.key = x.experiment "                       \
    "WHERE x.user_id = events.user_id AND (e.status <> 'archived' OR e.key IN (SELECT "            \
    "experiment FROM rollup_rebuilds)))"
static const char SQL_OLD_EVENTS[] = "DELETE " OLD_EVENTS;
static const char SQL_OLD_EVENTS_ANY[] = "SELECT EXISTS (SELECT 1 " OLD_EVENTS ")";
/* the archived experiments left alone because their rebuild is still running */
static const char SQL_REBUILDING[] =
    "SELECT COUNT(*) FROM experiments WHERE status = 'archived' AND key IN (SELECT experiment "
    "FROM rollup_rebuilds)";
/* the archived experiments whose per-user rows stay because they analyse a ratio metric */
static const char SQL_RATIO_KEPT[] =
    "SELECT COUNT(*) FROM experiments WHERE status = 'archived' AND key NOT IN (SELECT "
    "experiment FROM rollup_rebuilds) AND key IN " RATIO_USERS;
static const char SQL_MAX_ROWID[] = "SELECT COALESCE(MAX(rowid), 0) FROM events";

/* The one integer sql answers. */
static int count_of(struct sqlite_conn *c, const char *sql, int64_t *out, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(c, sql, err);
    if (st == NULL) {
        return -1;
    }
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : store_sqlite_err(c->db, rc, "compact", err);
}

/* Sleep as long as the last transaction held the write lock (since t0), at least
 * PAUSE_MIN_MS. */
static void yield_lock(uint64_t t0)
{
    uint64_t held = time_mono_ns() - t0, least = (uint64_t)PAUSE_MIN_MS * 1000000u;
    uint64_t ns = held > least ? held : least;
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* One statement in its own write transaction, then yield_lock. */
static int step_in_tx(struct sqlite_conn *c, sqlite3_stmt *st, int *changed, struct err *err)
{
    if (sqlite_conn_exec(c, "BEGIN IMMEDIATE", err) != 0) {
        sqlite3_reset(st);
        return -1;
    }
    uint64_t t0 = time_mono_ns(); /* the lock is held from here */
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    *changed = sqlite3_changes(c->db);
    if (rc != SQLITE_DONE) {
        store_sqlite_err(c->db, rc, "compact", err);
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite_conn_exec(c, "COMMIT", err) != 0) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    yield_lock(t0);
    return 0;
}

/* Repeat a chunked DELETE until it deletes less than a chunk; adds to *total. */
static int delete_chunks(struct sqlite_conn *c, const char *sql, int64_t *total, struct err *err)
{
    for (;;) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, sql, err);
        if (st == NULL) {
            return -1;
        }
        sqlite3_bind_int(st, 1, CHUNK);
        int changed = 0;
        if (step_in_tx(c, st, &changed, err) != 0) {
            return -1;
        }
        *total += changed;
        if (changed < CHUNK) {
            return 0;
        }
    }
}

static int delete_old_events(struct sqlite_conn *c, int64_t before, int64_t *total, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_MAX_ROWID, err);
    if (st == NULL) {
        return -1;
    }
    int64_t max = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    for (int64_t lo = 0; lo <= max; lo += CHUNK) {
        st = sqlite_conn_prepare(c, SQL_OLD_EVENTS_ANY, err);
        if (st == NULL) {
            return -1;
        }
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, lo + CHUNK);
        sqlite3_bind_int64(st, 3, before);
        int rc = sqlite3_step(st);
        bool any = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) {
            return store_sqlite_err(c->db, rc, "compact", err);
        }
        if (!any) {
            continue;
        }
        st = sqlite_conn_prepare(c, SQL_OLD_EVENTS, err);
        if (st == NULL) {
            return -1;
        }
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, lo + CHUNK);
        sqlite3_bind_int64(st, 3, before);
        int changed = 0;
        if (step_in_tx(c, st, &changed, err) != 0) {
            return -1;
        }
        *total += changed;
    }
    return 0;
}

/* Give the space back: copy the WAL into the database and truncate it. A TRUNCATE checkpoint
 * holds off writers (the daemon's) while it waits for the readers of older frames, so each try
 * waits CKPT_WAIT_MS at most, after a PASSIVE pass that copies what it can without holding
 * anyone off (little is left to copy under the lock); between tries the daemon writes.
 * The result used to be ignored: under load the checkpoint did not complete and compact said
 * nothing, leaving a 292 MB WAL. Now out->wal_busy says so (0 is still returned: the rows are
 * gone). */
static int checkpoint_truncate(struct sqlite_conn *c, struct store_compact_stats *out,
                               struct err *err)
{
    int log = -1, copied = -1;
    for (int i = 0; i < CKPT_TRIES; i++) {
        if (i > 0) {
            struct timespec ts = {0, CKPT_PAUSE_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
        int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        if (rc == SQLITE_OK) {
            int saved = c->busy_ms;
            c->busy_ms = CKPT_WAIT_MS;
            int l = -1, n = -1;
            rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_TRUNCATE, &l, &n);
            c->busy_ms = saved;
            if (rc == SQLITE_OK) {
                out->wal_busy = false;
                out->wal_frames = out->wal_copied = 0;
                return 0;
            }
            if (l >= 0) {
                log = l;
                copied = n;
            }
        }
        /* busy: another checkpoint running (the daemon's), a reader, a writer */
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) {
            return store_sqlite_err(c->db, rc, "compact: checkpoint", err);
        }
    }
    out->wal_busy = true;
    out->wal_frames = log;
    out->wal_copied = copied;
    return 0;
}

int sqlite_compact(struct store *s, int64_t horizon_ms, struct store_compact_stats *out,
                   struct err *err)
{
    struct sqlite_conn *c = sqlite_be(s)->main;
    *out = (struct store_compact_stats){0};
    int64_t dims = 0;
    if (count_of(c, SQL_REBUILDING, &out->rebuilding, err) != 0 ||
        count_of(c, SQL_RATIO_KEPT, &out->ratio_kept, err) != 0) {
        return -1;
    }
    if (delete_chunks(c, SQL_ARCHIVED_UM, &out->user_values, err) != 0 ||
        delete_chunks(c, SQL_ARCHIVED_EXPO, &out->exposures, err) != 0 ||
        delete_chunks(c, SQL_ARCHIVED_DIMS, &dims, err) != 0 ||
        delete_old_events(c, time_now_ms() - horizon_ms, &out->events, err) != 0) {
        return -1;
    }
    return checkpoint_truncate(c, out, err);
}
