/*
 * rebuild.c - the SQLite adapter's rebuild primitives (store_int.h, src/store/rebuild.c):
 * the rebuild state, the kept roll-ups (*_frozen, migration 0006) and the chunked recompute
 * of a range of users, with the set-based statements of rollup.c restricted to the range and
 * added to the live roll-ups (upserts). Writer thread, except rebuild_get/list on a reader.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "sqlite_int.h"

static int exec_exp(struct sqlite_conn *c, const char *sql, const char *experiment, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(c, sql, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    return sqlite_conn_step_done(c, st, "rebuild", err);
}

static const char SQL_HAS[] = "SELECT 1 FROM rollup_rebuilds WHERE experiment = ?";
static const char *const SQL_KEEP[] = {
    ("INSERT INTO metric_stats_frozen (experiment, metric, variant, n, s, q, sx, qx, p, s_lo, "
     "q_lo, sx_lo, qx_lo, p_lo, hwm) SELECT experiment, metric, variant, n, s, q, sx, qx, p, "
     "s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm FROM metric_stats WHERE experiment = ?"),
    ("INSERT INTO metric_daily_frozen (experiment, metric, variant, day, dn, ds, dq, ds_lo, "
     "dq_lo, hwm, dsx, dqx, dp, dsx_lo, dqx_lo, dp_lo, xsums) SELECT experiment, metric, "
     "variant, day, dn, ds, dq, ds_lo, dq_lo, hwm, dsx, dqx, dp, dsx_lo, dqx_lo, dp_lo, xsums "
     "FROM metric_daily WHERE experiment = ?"),
    ("INSERT INTO exposure_stats_frozen (experiment, variant, users, conflicts) "
     "SELECT experiment, variant, users, conflicts FROM exposure_stats WHERE experiment = ?"),
    /* the slices of migration 0007 */
    ("INSERT INTO slice_stats_frozen (experiment, metric, dimension, value, variant, n, s, q, "
     "sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm) SELECT experiment, metric, dimension, "
     "value, variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm FROM slice_stats "
     "WHERE experiment = ?"),
    ("INSERT INTO slice_exposure_stats_frozen SELECT experiment, dimension, value, variant, "
     "users FROM slice_exposure_stats WHERE experiment = ?"),
};
static const char *const SQL_EMPTY_LIVE[] = {
    "DELETE FROM metric_stats WHERE experiment = ?",
    "DELETE FROM metric_daily WHERE experiment = ?",
    "DELETE FROM exposure_stats WHERE experiment = ?",
    "DELETE FROM slice_stats WHERE experiment = ?",
    "DELETE FROM slice_exposure_stats WHERE experiment = ?",
};
static const char *const SQL_DROP_KEPT[] = {
    "DELETE FROM metric_stats_frozen WHERE experiment = ?",
    "DELETE FROM metric_daily_frozen WHERE experiment = ?",
    "DELETE FROM exposure_stats_frozen WHERE experiment = ?",
    "DELETE FROM slice_stats_frozen WHERE experiment = ?",
    "DELETE FROM slice_exposure_stats_frozen WHERE experiment = ?",
    "DELETE FROM ratio_kept WHERE experiment = ?",          /* migration 0009 */
    "DELETE FROM rebuild_metric_defs WHERE experiment = ?", /* migration 0011 */
    "DELETE FROM rollup_rebuilds WHERE experiment = ?",
};
static const char SQL_TOTAL[] =
    "SELECT COALESCE(SUM(users), 0) FROM exposure_stats_frozen WHERE experiment = ?";
/* a restart moves the generation only when a chunk ran (the cursor moved): before one, the
 * per-user values are still all those of before the first change, so the ratio sums can
 * still be kept from them (store.h store_rebuild_keep_ratios); two quick edits left a ratio
 * without kept sums for the whole rebuild */
static const char SQL_STATE_PUT[] =
    "INSERT INTO rollup_rebuilds (experiment, cursor, users_done, users_total, generation, "
    "started_at, defs_unknown) VALUES (?1, '', 0, ?2, 1, ?3, 0) ON CONFLICT (experiment) DO UPDATE "
    "SET "
    "cursor = '', users_done = 0, users_total = ?2, generation = generation + "
    "(cursor <> ''), started_at = ?3";

int sqlite_rebuild_begin(struct store_tx *tx, const char *experiment, int64_t now,
                         int64_t *users_total, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_HAS, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return store_sqlite_err(c->db, rc, "read rebuild state", err);
    }
    /* a restarted rebuild keeps the roll-ups kept by the first: the last complete ones */
    for (size_t i = 0; rc == SQLITE_DONE && i < sizeof(SQL_KEEP) / sizeof(SQL_KEEP[0]); i++) {
        if (exec_exp(c, SQL_KEEP[i], experiment, err) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof(SQL_EMPTY_LIVE) / sizeof(SQL_EMPTY_LIVE[0]); i++) {
        if (exec_exp(c, SQL_EMPTY_LIVE[i], experiment, err) != 0) {
            return -1;
        }
    }
    st = sqlite_conn_prepare(c, SQL_TOTAL, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    rc = sqlite3_step(st);
    *users_total = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        return store_sqlite_err(c->db, rc, "count exposed users", err);
    }
    st = sqlite_conn_prepare(c, SQL_STATE_PUT, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite3_bind_int64(st, 2, *users_total);
    sqlite3_bind_int64(st, 3, now);
    return sqlite_conn_step_done(c, st, "record rebuild", err);
}

#define STATE_COLS                                                                                 \
    "experiment, cursor, users_done, users_total, generation, started_at, ratios_kept"
static const char SQL_GET[] = "SELECT " STATE_COLS " FROM rollup_rebuilds WHERE experiment = ?";
static const char SQL_LIST[] =
    "SELECT " STATE_COLS " FROM rollup_rebuilds ORDER BY started_at, experiment";

static void row_read(sqlite3_stmt *st, struct store_rebuild *r)
{
    sqlite_column_copy(st, 0, r->experiment, sizeof(r->experiment));
    sqlite_column_copy(st, 1, r->cursor, sizeof(r->cursor));
    r->users_done = sqlite3_column_int64(st, 2);
    r->users_total = sqlite3_column_int64(st, 3);
    r->generation = sqlite3_column_int64(st, 4);
    r->started_at = sqlite3_column_int64(st, 5);
    r->ratios_kept = sqlite3_column_int64(st, 6) != 0;
}

int sqlite_rebuild_get(struct store *s, struct store_tx *tx, const char *experiment,
                       struct store_rebuild *out, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, tx, SQL_GET, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row_read(st, out);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return store_sqlite_err(c->db, rc, "read rebuild state", err);
    }
    return rc == SQLITE_ROW ? 1 : 0;
}

int sqlite_rebuild_list(struct store *s, void (*emit)(void *ctx, const struct store_rebuild *r),
                        void *ctx, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_LIST, &c, err);
    if (st == NULL) {
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_rebuild r;
        row_read(st, &r);
        emit(ctx, &r);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "list rebuilds", err);
}

static const char SQL_USERS_AFTER[] = "SELECT user_id FROM exposures WHERE experiment = ?1 AND "
                                      "user_id > ?2 ORDER BY user_id LIMIT ?3";

int sqlite_rebuild_users_after(struct store_tx *tx, const char *experiment, const char *after,
                               size_t limit, void (*emit)(void *ctx, const char *user_id),
                               void *ctx, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_USERS_AFTER, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, after);
    sqlite3_bind_int64(st, 3, (int64_t)limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        emit(ctx, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "next users to rebuild", err);
}

/* The range statements. They name the (experiment, user_id) index: without statistics the
 * planner would rather scan the experiment's whole (experiment, variant, ts) index, once per
 * chunk, which makes a rebuild quadratic. */
/* the primary key (experiment, user_id, metric): one range of it (migration 0008) */
static const char SQL_R_DEL_UM[] =
    "DELETE FROM user_metrics WHERE experiment = ?1 AND user_id > ?2 AND user_id <= ?3";
/* ?1 experiment ?2 stop ?3 after ?4 last */
static const char SQL_R_EXPOSTAT[] =
    "INSERT INTO exposure_stats (experiment, variant, users, conflicts) "
    "SELECT experiment, variant, COUNT(*), TOTAL(conflict_ts < ?2) FROM exposures INDEXED BY "
    "exposures_experiment_user WHERE experiment = ?1 "
    "AND ts < ?2 AND user_id > ?3 AND user_id <= ?4 GROUP BY variant "
    "ON CONFLICT (experiment, variant) DO UPDATE SET users = users + excluded.users, "
    "conflicts = conflicts + excluded.conflicts";
/* rollup.c's rows over the range (sqlite_rule_users reads them).
 * ?1 experiment ?2 event ?3 window ?4 stop ?5 lookback ?6 after ?7 last */
static const char SQL_R_ROWS[] =
    "SELECT x.user_id, x.variant, x.ts, e.ts, e.value FROM exposures x INDEXED BY "
    "exposures_experiment_user LEFT JOIN events e ON e.user_id = x.user_id AND e.event = ?2 "
    "AND e.ts >= x.ts - ?5 AND e.ts < MIN(x.ts + ?3, ?4) WHERE x.experiment = ?1 AND x.ts < ?4 "
    "AND x.user_id > ?6 AND x.user_id <= ?7 ORDER BY x.variant, x.ts, x.user_id";

static int range_rule(struct store_tx *tx, const char *experiment, const struct store_rule *r,
                      const char *after, const char *last, struct err *err)
{
    sqlite3_stmt *st = sqlite_rule_prepare(tx, SQL_R_ROWS, experiment, r, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 6, after);
    sqlite_bind_str(st, 7, last);
    return sqlite_rule_users(tx, st, experiment, r, err);
}

int sqlite_rebuild_range(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                         const struct store_rule *const *rules, size_t n, const char *after,
                         const char *last, const char *const *users, size_t nusers, struct err *err)
{
    /* the range's statements name their index (INDEXED BY), so no statistics change their
     * plans; the list is for the PostgreSQL adapter (src/store/pg/rebuild.c) */
    (void)users;
    (void)nusers;
    struct sqlite_conn *c = tx->conn;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_R_DEL_UM, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, after);
    sqlite_bind_str(st, 3, last);
    if (sqlite_conn_step_done(c, st, "rebuild user values", err) != 0) {
        return -1;
    }
    st = sqlite_conn_prepare(c, SQL_R_EXPOSTAT, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite3_bind_int64(st, 2, stop_ts > 0 ? stop_ts : FAR_FUTURE);
    sqlite_bind_str(st, 3, after);
    sqlite_bind_str(st, 4, last);
    if (sqlite_conn_step_done(c, st, "rebuild exposure statistics", err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (range_rule(tx, experiment, rules[i], after, last, err) != 0) {
            return -1;
        }
    }
    /* after the users' rows: the slices read them */
    return sqlite_slices_range(c, experiment, stop_ts, rules, n, after, last, err);
}

static const char SQL_ADVANCE[] = "UPDATE rollup_rebuilds SET cursor = ?2, users_done = "
                                  "users_done + ?3 WHERE experiment = ?1";

int sqlite_rebuild_advance(struct store_tx *tx, const char *experiment, const char *last,
                           int64_t users, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_ADVANCE, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, last);
    sqlite3_bind_int64(st, 3, users);
    return sqlite_conn_step_done(c, st, "advance rebuild", err);
}

int sqlite_rebuild_end(struct store_tx *tx, const char *experiment, struct err *err)
{
    for (size_t i = 0; i < sizeof(SQL_DROP_KEPT) / sizeof(SQL_DROP_KEPT[0]); i++) {
        if (exec_exp(tx->conn, SQL_DROP_KEPT[i], experiment, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static const char SQL_CURSORS[] = "SELECT experiment, cursor FROM rollup_rebuilds";

int sqlite_rebuild_cursors(struct store_tx *tx,
                           void (*emit)(void *ctx, const char *experiment, const char *cursor),
                           void *ctx, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_CURSORS, err);
    if (st == NULL) {
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        emit(ctx, (const char *)sqlite3_column_text(st, 0),
             (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "read rebuild cursors", err);
}

/* ---- ratio metrics' kept sums (migration 0009, store.h store_rebuild_keep_ratios) ---- */

static const char SQL_RATIOS_CLAIM[] =
    "UPDATE rollup_rebuilds SET ratios_kept = 1 WHERE experiment = ?1 AND generation = ?2 AND "
    "cursor = '' AND ratios_kept = 0";
static const char SQL_RATIO_PUT[] =
    "INSERT INTO ratio_kept (experiment, metric, numerator, denominator, dimension, value, "
    "variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo) VALUES (?1, ?2, ?3, ?4, ?5, "
    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

int sqlite_rebuild_keep_ratios(struct store_tx *tx, const char *experiment, int64_t generation,
                               const struct store_ratio_sums *rows, size_t n, bool *kept,
                               struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_RATIOS_CLAIM, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite3_bind_int64(st, 2, generation);
    if (sqlite_conn_step_done(c, st, "claim the ratio sums", err) != 0) {
        return -1;
    }
    if (sqlite3_changes(c->db) != 1) {
        return 0; /* a chunk ran, a restart moved the generation, or they are kept */
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_ratio_sums *r = &rows[i];
        st = sqlite_conn_prepare(c, SQL_RATIO_PUT, err);
        if (st == NULL) {
            return -1;
        }
        const char *text[] = {experiment,   r->metric, r->numerator, r->denominator,
                              r->dimension, r->value,  r->st.variant};
        for (int k = 0; k < 7; k++) {
            sqlite_bind_str(st, k + 1, text[k]);
        }
        sqlite3_bind_int64(st, 8, r->st.n);
        const double x[] = {r->st.s,    r->st.q,    r->st.sx,    r->st.qx,    r->st.p,
                            r->st.s_lo, r->st.q_lo, r->st.sx_lo, r->st.qx_lo, r->st.p_lo};
        for (int k = 0; k < 10; k++) {
            sqlite3_bind_double(st, 9 + k, x[k]);
        }
        if (sqlite_conn_step_done(c, st, "keep ratio sums", err) != 0) {
            return -1;
        }
    }
    *kept = true;
    return 0;
}

static const char SQL_RATIO_GET[] =
    "SELECT value, variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo FROM ratio_kept "
    "WHERE experiment = ?1 AND metric = ?2 AND numerator = ?3 AND denominator = ?4 AND "
    "dimension = ?5 ORDER BY value, variant";

int sqlite_rebuild_ratio_read(struct store *s, const char *experiment, const char *metric,
                              const char *numerator, const char *denominator, const char *dimension,
                              void (*emit)(void *ctx, const char *value,
                                           const struct store_suff *st),
                              void *ctx, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_RATIO_GET, &c, err);
    if (st == NULL) {
        return -1;
    }
    const char *text[] = {experiment, metric, numerator, denominator, dimension};
    for (int k = 0; k < 5; k++) {
        sqlite_bind_str(st, k + 1, text[k]);
    }
    int rc, found = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        found = 1;
        struct store_suff x;
        memset(&x, 0, sizeof(x));
        sqlite_column_copy(st, 1, x.variant, sizeof(x.variant));
        if (x.variant[0] == '\0') {
            continue; /* the marker of a dimension kept */
        }
        x.n = sqlite3_column_int64(st, 2);
        double *f[] = {&x.s,    &x.q,    &x.sx,    &x.qx,    &x.p,
                       &x.s_lo, &x.q_lo, &x.sx_lo, &x.qx_lo, &x.p_lo};
        for (int k = 0; k < 10; k++) {
            *f[k] = sqlite3_column_double(st, 3 + k);
        }
        emit(ctx, (const char *)sqlite3_column_text(st, 0), &x);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return store_sqlite_err(c->db, rc, "read kept ratio sums", err);
    }
    return found;
}

/* ---- the kept roll-ups' metric definitions (migration 0011, store_rebuild_keep_metric) ---- */

static const char SQL_DEF_KEEP[] =
    "INSERT INTO rebuild_metric_defs (experiment, metric, doc) SELECT ?1, ?2, ?3 WHERE EXISTS "
    "(SELECT 1 FROM rollup_rebuilds WHERE experiment = ?1) ON CONFLICT (experiment, metric) "
    "DO NOTHING";
/* only while the rebuild runs: a row left behind (an older daemon ended the rebuild during a
 * rolling upgrade, not knowing this table) must not hold results to an old definition; a
 * rebuild whose definitions were not recorded (migration 0013) answers defs_unknown */
static const char SQL_DEF_GET[] =
    "SELECT r.defs_unknown, d.doc FROM rollup_rebuilds r LEFT JOIN rebuild_metric_defs d ON "
    "d.experiment = r.experiment AND d.metric = ?2 WHERE r.experiment = ?1";

int sqlite_rebuild_keep_metric(struct store_tx *tx, const char *experiment, const char *metric,
                               const char *doc, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_DEF_KEEP, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, metric);
    sqlite_bind_str(st, 3, doc);
    return sqlite_conn_step_done(c, st, "keep a metric definition", err);
}

int sqlite_rebuild_metric_get(struct store *s, const char *experiment, const char *metric,
                              char **doc, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_DEF_GET, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, metric);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) != 0) {
        found = 2;
    } else if (rc == SQLITE_ROW && sqlite3_column_type(st, 1) != SQLITE_NULL) {
        *doc = xstrdup((const char *)sqlite3_column_text(st, 1));
        found = 1;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return store_sqlite_err(c->db, rc, "read a kept metric definition", err);
    }
    return found;
}
