/*
 * rollup.c - the SQLite adapter: reading the roll-ups that attribution maintains (sufficient
 * statistics, daily series, exposure counts) and rebuilding them from the raw rows with set-based
 * SQL in one transaction (store_rollup_rebuild: the tests' and bench/'s reference for the
 * chunked rebuild of rebuild.c, which is what the daemon runs when a definition changes).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "bunsen/ddouble.h"
#include "bunsen/util.h"
#include "sqlite_int.h"

static int exec_bound(struct sqlite_conn *c, const char *sql, const char *a, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(c, sql, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, a);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "rebuild", err);
}

static const char SQL_RB_DEL_UM[] = "DELETE FROM user_metrics WHERE experiment = ?";
static const char SQL_RB_DEL_STATS[] = "DELETE FROM metric_stats WHERE experiment = ?";
static const char SQL_RB_DEL_DAILY[] = "DELETE FROM metric_daily WHERE experiment = ?";
static const char SQL_RB_DEL_EXPOSTAT[] = "DELETE FROM exposure_stats WHERE experiment = ?";
static const char SQL_RB_DEL_SLICES[] = "DELETE FROM slice_stats WHERE experiment = ?";
static const char SQL_RB_DEL_SLICE_USERS[] =
    "DELETE FROM slice_exposure_stats WHERE experiment = ?";
/* ?1 experiment ?2 stop ts (or far future): exposures at or after the stop never count */
static const char SQL_RB_EXPOSTAT[] =
    "INSERT INTO exposure_stats (experiment, variant, users, conflicts) "
    "SELECT experiment, variant, COUNT(*), TOTAL(conflict_ts < ?2) FROM exposures "
    "WHERE experiment = ?1 AND ts < ?2 GROUP BY variant";
/* ?1 experiment ?2 event ?3 window (ms) ?4 stop ts ?5 lookback (ms): every user exposed before
 * the stop with each of its events of the rule's event in [t0 - lookback, window end) (or one
 * row without an event), for sqlite_rule_users */
static const char SQL_RB_ROWS[] =
    "SELECT x.user_id, x.variant, x.ts, e.ts, e.value FROM exposures x LEFT JOIN events e ON "
    "e.user_id = x.user_id AND e.event = ?2 AND e.ts >= x.ts - ?5 AND e.ts < MIN(x.ts + ?3, ?4) "
    "WHERE x.experiment = ?1 AND x.ts < ?4 ORDER BY x.variant, x.ts, x.user_id";

int sqlite_rule_users(struct store_tx *tx, sqlite3_stmt *st, const char *experiment,
                      const struct store_rule *r, struct err *err)
{
    struct store_rule_users u;
    store_rule_users_begin(&u, r);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool has_event = sqlite3_column_type(st, 3) != SQLITE_NULL;
        store_rule_users_add(&u, (const char *)sqlite3_column_text(st, 0),
                             (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
                             has_event, sqlite3_column_int64(st, 3), sqlite3_column_double(st, 4));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_rule_users_free(&u);
        struct sqlite_conn *c = tx->conn;
        return store_sqlite_err(c->db, rc, "rebuild user values", err);
    }
    store_rule_users_end(&u);
    struct store_delta *stats = store_variant_sums_deltas(&u.stats, experiment, r->metric);
    struct store_delta *days = store_daily_sums_deltas(&u.days, experiment, r->metric);
    int out = u.nrows > 0 ? sqlite_user_metrics_put(tx, u.rows, u.nrows, err) : 0;
    if (out == 0 && u.stats.n > 0) {
        out = sqlite_rollup_add(tx, stats, u.stats.n, err);
    }
    if (out == 0 && u.days.n > 0) {
        out = sqlite_rollup_add(tx, days, u.days.n, err);
    }
    free(stats);
    free(days);
    store_rule_users_free(&u);
    return out;
}

sqlite3_stmt *sqlite_rule_prepare(struct store_tx *tx, const char *sql, const char *experiment,
                                  const struct store_rule *r, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(tx->conn, sql, err);
    if (st == NULL) {
        return NULL;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, r->event);
    sqlite3_bind_int64(st, 3, r->window_ms > 0 ? r->window_ms : FAR_FUTURE);
    sqlite3_bind_int64(st, 4, r->stop_ts > 0 ? r->stop_ts : FAR_FUTURE);
    sqlite3_bind_int64(st, 5, r->lookback_ms);
    return st;
}

static int rebuild_rule(struct store_tx *tx, const char *experiment, const struct store_rule *r,
                        struct err *err)
{
    sqlite3_stmt *st = sqlite_rule_prepare(tx, SQL_RB_ROWS, experiment, r, err);
    return st == NULL ? -1 : sqlite_rule_users(tx, st, experiment, r, err);
}

int sqlite_rollup_rebuild(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                          const struct store_rule *const *rules, size_t n, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    const char *dels[] = {SQL_RB_DEL_UM,       SQL_RB_DEL_STATS,  SQL_RB_DEL_DAILY,
                          SQL_RB_DEL_EXPOSTAT, SQL_RB_DEL_SLICES, SQL_RB_DEL_SLICE_USERS};
    for (size_t i = 0; i < sizeof(dels) / sizeof(dels[0]); i++) {
        if (exec_bound(c, dels[i], experiment, err) != 0) {
            return -1;
        }
    }
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_RB_EXPOSTAT, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite3_bind_int64(st, 2, stop_ts > 0 ? stop_ts : FAR_FUTURE);
    if (sqlite_conn_step_done(c, st, "rebuild exposure statistics", err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (rebuild_rule(tx, experiment, rules[i], err) != 0) {
            return -1;
        }
    }
    return sqlite_slices_range(c, experiment, stop_ts, rules, n, NULL, NULL, err);
}

/* While a rebuild runs (rebuild.c) the last complete roll-ups are the kept (*_frozen) ones. */
#define REBUILDING "(SELECT 1 FROM rollup_rebuilds WHERE experiment = ?1)"
#define STATS_COLS "variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm"
static const char SQL_READ[] =
    "SELECT " STATS_COLS " FROM metric_stats WHERE experiment = ?1 AND metric = ?2 AND NOT "
    "EXISTS " REBUILDING " UNION ALL SELECT " STATS_COLS " FROM metric_stats_frozen WHERE "
    "experiment = ?1 AND metric = ?2 AND EXISTS " REBUILDING " ORDER BY variant";

int sqlite_rollup_read(struct store *s, const char *experiment, const char *metric,
                       void (*emit)(void *ctx, const struct store_suff *st), void *ctx,
                       struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_READ, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, metric);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_suff x;
        sqlite_column_copy(st, 0, x.variant, sizeof(x.variant));
        x.n = sqlite3_column_int64(st, 1);
        x.s = sqlite3_column_double(st, 2);
        x.q = sqlite3_column_double(st, 3);
        x.sx = sqlite3_column_double(st, 4);
        x.qx = sqlite3_column_double(st, 5);
        x.p = sqlite3_column_double(st, 6);
        x.s_lo = sqlite3_column_double(st, 7);
        x.q_lo = sqlite3_column_double(st, 8);
        x.sx_lo = sqlite3_column_double(st, 9);
        x.qx_lo = sqlite3_column_double(st, 10);
        x.p_lo = sqlite3_column_double(st, 11);
        x.hwm = sqlite3_column_double(st, 12);
        emit(ctx, &x);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "read statistics", err);
}

#define DAILY_COLS                                                                                 \
    "variant, day, dn, ds, dq, ds_lo, dq_lo, hwm, dsx, dqx, dp, dsx_lo, dqx_lo, dp_lo, xsums"
static const char SQL_DAILY[] =
    "SELECT " DAILY_COLS " FROM metric_daily WHERE experiment = ?1 AND metric = ?2 AND NOT "
    "EXISTS " REBUILDING " UNION ALL SELECT " DAILY_COLS " FROM metric_daily_frozen WHERE "
    "experiment = ?1 AND metric = ?2 AND EXISTS " REBUILDING " ORDER BY variant, day";

int sqlite_rollup_daily(struct store *s, const char *experiment, const char *metric,
                        void (*emit)(void *ctx, int64_t day, const struct store_suff *st),
                        void *ctx, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_DAILY, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, metric);
    struct store_suff acc = {.variant = ""};
    struct dd sum[5];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char variant[65];
        sqlite_column_copy(st, 0, variant, sizeof(variant));
        if (strcmp(variant, acc.variant) != 0) {
            memcpy(acc.variant, variant, sizeof(acc.variant));
            acc.n = 0;
            acc.hwm = 0;
            for (int k = 0; k < 5; k++) {
                sum[k] = dd_of(0);
            }
        }
        acc.n += sqlite3_column_int64(st, 2);
        acc.hwm = fmax(acc.hwm, sqlite3_column_double(st, 7)); /* through this day */
        if (sqlite3_column_int64(st, 14) == 0) {
            acc.hwm = INFINITY; /* no covariate sums (migration 0016): untrusted */
        }
        /* (column of the hi part, of the lo part) of S, Q, Sx, Qx, P */
        static const int at[5][2] = {{3, 5}, {4, 6}, {8, 11}, {9, 12}, {10, 13}};
        for (int k = 0; k < 5; k++) {
            sum[k] = dd_add(sum[k], (struct dd){sqlite3_column_double(st, at[k][0]),
                                                sqlite3_column_double(st, at[k][1])});
        }
        acc.s = sum[0].hi, acc.s_lo = sum[0].lo, acc.q = sum[1].hi, acc.q_lo = sum[1].lo;
        acc.sx = sum[2].hi, acc.sx_lo = sum[2].lo, acc.qx = sum[3].hi, acc.qx_lo = sum[3].lo;
        acc.p = sum[4].hi, acc.p_lo = sum[4].lo;
        emit(ctx, sqlite3_column_int64(st, 1), &acc);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "read daily statistics", err);
}

static const char SQL_EXPOSED[] =
    "SELECT variant, users, conflicts FROM exposure_stats WHERE experiment = ?1 AND NOT "
    "EXISTS " REBUILDING
    " UNION ALL SELECT variant, users, conflicts FROM exposure_stats_frozen WHERE "
    "experiment = ?1 AND EXISTS " REBUILDING " ORDER BY variant";

int sqlite_exposure_by_variant(struct store *s, const char *experiment,
                               void (*emit)(void *ctx, const char *variant, int64_t users),
                               void *ctx, int64_t *conflicts, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_EXPOSED, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    *conflicts = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *conflicts += sqlite3_column_int64(st, 2);
        emit(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "read exposures", err);
}

/* Keyset pagination over exposures_experiment (experiment, variant, ts) + the primary key's
 * user_id; ?3 = 0 for the first page. */
#define USERS_PAGE_COLS                                                                            \
    "SELECT x.user_id, x.variant, x.ts, COALESCE(a.y_raw, 0), COALESCE(a.x_raw, 0), "              \
    " COALESCE(b.y_raw, 0), COALESCE(b.x_raw, 0)"
#define USERS_PAGE_VALUES                                                                          \
    "LEFT JOIN user_metrics a ON a.user_id = x.user_id AND a.experiment = x.experiment "           \
    " AND a.metric = ?2 "                                                                          \
    "LEFT JOIN user_metrics b ON b.user_id = x.user_id AND b.experiment = x.experiment "           \
    " AND b.metric = ?7 "
/* The keyset condition is always there (the first page starts after ("", INT64_MIN, ""),
 * before every row): SQLite seeks the index to it. Behind an "?3 = 0 OR" it only filtered,
 * so each page scanned the experiment's index from its start (quadratic in users; 77 ms
 * instead of 21 ms for a page at 250,000 of 300,000 users). */
#define USERS_PAGE_WHERE                                                                           \
    "WHERE x.experiment = ?1 AND x.ts < ?8 AND (x.variant, x.ts, x.user_id) > (?4, ?5, ?6) "       \
    "ORDER BY x.variant, x.ts, x.user_id LIMIT ?9"
static const char SQL_USERS_PAGE[] =
    USERS_PAGE_COLS " FROM exposures x " USERS_PAGE_VALUES USERS_PAGE_WHERE;
/* The same, only users with a recorded value of dimension ?10, and the value. */
static const char SQL_USERS_PAGE_DIM[] =
    USERS_PAGE_COLS ", d.value FROM exposures x "
                    "JOIN exposure_dims d ON d.user_id = x.user_id AND d.experiment = x.experiment "
                    " AND d.dimension = ?10 " USERS_PAGE_VALUES USERS_PAGE_WHERE;

int sqlite_users_page(struct store *s, const char *experiment, int64_t stop_ts, const char *metric,
                      const char *metric2, const char *dimension, struct store_users_cursor *cur,
                      int limit, void (*emit)(void *ctx, const struct store_user_row *row),
                      void *ctx, int *count, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st =
        sqlite_read_prepare(s, NULL, dimension ? SQL_USERS_PAGE_DIM : SQL_USERS_PAGE, &c, err);
    if (st == NULL) {
        return -1;
    }
    if (dimension != NULL) {
        sqlite_bind_str(st, 10, dimension);
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, metric);
    sqlite_bind_str(st, 4, cur->started ? cur->variant : "");
    sqlite3_bind_int64(st, 5, cur->started ? cur->ts : INT64_MIN);
    sqlite_bind_str(st, 6, cur->started ? cur->user_id : "");
    sqlite_bind_str(st, 7, metric2 ? metric2 : "");
    sqlite3_bind_int64(st, 8, stop_ts > 0 ? stop_ts : FAR_FUTURE);
    sqlite3_bind_int(st, 9, limit);
    *count = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_user_row row = {
            .user_id = (const char *)sqlite3_column_text(st, 0),
            .variant = (const char *)sqlite3_column_text(st, 1),
            .first_exposure = sqlite3_column_int64(st, 2),
            .y = sqlite3_column_double(st, 3),
            .x = sqlite3_column_double(st, 4),
            .y2 = sqlite3_column_double(st, 5),
            .x2 = sqlite3_column_double(st, 6),
            .dim_value = dimension ? (const char *)sqlite3_column_text(st, 7) : NULL,
        };
        if (row.user_id == NULL || row.variant == NULL) {
            continue;
        }
        emit(ctx, &row);
        str_copy(cur->variant, sizeof(cur->variant), row.variant);
        str_copy(cur->user_id, sizeof(cur->user_id), row.user_id);
        cur->ts = row.first_exposure;
        cur->started = true;
        (*count)++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "list users", err);
}
