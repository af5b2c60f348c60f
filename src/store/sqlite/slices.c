/*
 * slices.c - the SQLite adapter's dimension breakdowns (store_int.h, migration 0007): the
 * values recorded at first exposure (exposure_dims), the registry of distinct values
 * (dimension_values), the per-value roll-ups (slice_stats, slice_exposure_stats) that
 * attribution adds deltas to, their reads (the kept *_frozen copies while a rebuild runs), and
 * their recompute from the raw rows for the rebuilds (summed by src/store/sums.c, shared with
 * the PostgreSQL adapter: this file keeps only the SQL). Writer thread, except the reads.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "sqlite_int.h"

static const char SQL_DIMS_GET[] =
    "SELECT dimension, value FROM exposure_dims WHERE user_id = ? AND experiment = ?";

int sqlite_dims_get(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                    void (*emit)(void *ctx, size_t i, const char *dimension, const char *value),
                    void *ctx, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_DIMS_GET, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_str(st, 1, keys[i].user_id);
        sqlite_bind_str(st, 2, keys[i].experiment);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 0);
            const char *v = (const char *)sqlite3_column_text(st, 1);
            if (d != NULL && v != NULL) {
                emit(ctx, i, d, v);
            }
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            return store_sqlite_err(c->db, rc, "read dimension values", err);
        }
    }
    return 0;
}

static const char SQL_DIMS_PUT[] = "INSERT OR IGNORE INTO exposure_dims (user_id, experiment, "
                                   "dimension, value) VALUES (?, ?, ?, ?)";
static const char SQL_VALUES_PUT[] =
    "INSERT OR IGNORE INTO dimension_values (experiment, dimension, value) VALUES (?, ?, ?)";

int sqlite_dims_put(struct store_tx *tx, const struct store_dimrow *rows, size_t n, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_DIMS_PUT, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_str(st, 1, rows[i].user_id);
        sqlite_bind_str(st, 2, rows[i].experiment);
        sqlite_bind_str(st, 3, rows[i].dimension);
        sqlite_bind_str(st, 4, rows[i].value);
        if (sqlite_conn_step_done(c, st, "record dimension values", err) != 0) {
            return -1;
        }
    }
    return 0;
}

int sqlite_dim_values_put(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                          struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_VALUES_PUT, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_str(st, 1, rows[i].experiment);
        sqlite_bind_str(st, 2, rows[i].dimension);
        sqlite_bind_str(st, 3, rows[i].value);
        if (sqlite_conn_step_done(c, st, "register dimension value", err) != 0) {
            return -1;
        }
    }
    return 0;
}

static const char SQL_VALUES_KNOWN[] =
    "SELECT EXISTS (SELECT 1 FROM dimension_values WHERE experiment = ?1 AND dimension = ?2 "
    "AND value = ?3), (SELECT COUNT(*) FROM dimension_values WHERE experiment = ?1 AND "
    "dimension = ?2)";

int sqlite_dim_values_known(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                            bool *known, int64_t *distinct, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_VALUES_KNOWN, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_str(st, 1, rows[i].experiment);
        sqlite_bind_str(st, 2, rows[i].dimension);
        sqlite_bind_str(st, 3, rows[i].value);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            known[i] = sqlite3_column_int(st, 0) != 0;
            distinct[i] = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) {
            return store_sqlite_err(c->db, rc, "read dimension values", err);
        }
    }
    return 0;
}

#define SLICE_SUMS                                                                                 \
    DD_ADD("s", "?7", "?12")                                                                       \
    ", " DD_ADD("q", "?8", "?13") ", " DD_ADD("sx", "?9", "?14") ", " DD_ADD(                      \
        "qx", "?10", "?15") ", " DD_ADD("p", "?11", "?16")
/* hwm (migration 0015): the largest of the row's, the delta's and the new sums' magnitudes */
static const char SQL_SLICE_ADD[] =
    "INSERT INTO slice_stats (experiment, metric, dimension, value, variant, n, s, q, sx, qx, p, "
    "s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
    "?12, ?13, ?14, ?15, ?16, ?17) ON CONFLICT (experiment, metric, dimension, value, variant) "
    "DO UPDATE SET n = n + ?6, hwm = max(hwm, ?17, abs(q + ?8), abs(qx + ?10), abs(p + "
    "?11)), " SLICE_SUMS;
static const char SQL_SLICE_USERS_ADD[] =
    "INSERT INTO slice_exposure_stats (experiment, dimension, value, variant, users) VALUES "
    "(?1, ?2, ?3, ?4, ?5) ON CONFLICT (experiment, dimension, value, variant) DO UPDATE SET "
    "users = users + ?5";

static int slice_stats_add(struct sqlite_conn *c, const struct store_delta *e, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_SLICE_ADD, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, e->experiment);
    sqlite_bind_str(st, 2, e->metric);
    sqlite_bind_str(st, 3, e->dimension);
    sqlite_bind_str(st, 4, e->value);
    sqlite_bind_str(st, 5, e->variant);
    sqlite3_bind_int64(st, 6, e->dn);
    const double hi[] = {e->ds, e->dq, e->dsx, e->dqx, e->dp};
    const double lo[] = {e->ds_lo, e->dq_lo, e->dsx_lo, e->dqx_lo, e->dp_lo};
    for (int i = 0; i < 5; i++) {
        sqlite3_bind_double(st, 7 + i, hi[i]);
        sqlite3_bind_double(st, 12 + i, lo[i]);
    }
    sqlite3_bind_double(st, 17, e->hwm);
    return sqlite_conn_step_done(c, st, "update slice statistics", err);
}

int sqlite_slice_add(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err)
{
    struct sqlite_conn *c = tx->conn;
    for (size_t i = 0; i < n; i++) {
        const struct store_delta *e = &d[i];
        if (e->kind == DELTA_SLICE_STATS) {
            if (slice_stats_add(c, e, err) != 0) {
                return -1;
            }
            continue;
        }
        sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_SLICE_USERS_ADD, err);
        if (st == NULL) {
            return -1;
        }
        sqlite_bind_str(st, 1, e->experiment);
        sqlite_bind_str(st, 2, e->dimension);
        sqlite_bind_str(st, 3, e->value);
        sqlite_bind_str(st, 4, e->variant);
        sqlite3_bind_int64(st, 5, e->dn);
        if (sqlite_conn_step_done(c, st, "update slice exposures", err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* While a rebuild runs the last complete roll-ups are the kept (*_frozen) ones. */
#define REBUILDING "(SELECT 1 FROM rollup_rebuilds WHERE experiment = ?1)"
#define SLICE_COLS "value, variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm"
static const char SQL_SLICE_READ[] =
    "SELECT " SLICE_COLS " FROM slice_stats WHERE experiment = ?1 AND metric = ?2 AND "
    "dimension = ?3 AND NOT EXISTS " REBUILDING " UNION ALL SELECT " SLICE_COLS
    " FROM slice_stats_frozen WHERE experiment = ?1 AND metric = ?2 AND dimension = ?3 AND "
    "EXISTS " REBUILDING " ORDER BY 1, 2";

int sqlite_slice_read(struct store *s, const char *experiment, const char *metric,
                      const char *dimension,
                      void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                      void *ctx, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_SLICE_READ, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, metric);
    sqlite_bind_str(st, 3, dimension);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *value = (const char *)sqlite3_column_text(st, 0);
        struct store_suff x;
        sqlite_column_copy(st, 1, x.variant, sizeof(x.variant));
        x.n = sqlite3_column_int64(st, 2);
        double *f[] = {&x.s,    &x.q,     &x.sx,    &x.qx,   &x.p,  &x.s_lo,
                       &x.q_lo, &x.sx_lo, &x.qx_lo, &x.p_lo, &x.hwm};
        for (int i = 0; i < 11; i++) {
            *f[i] = sqlite3_column_double(st, 3 + i);
        }
        if (value != NULL) {
            emit(ctx, value, &x);
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "read slice statistics", err);
}

static const char SQL_SLICE_EXPOSED[] =
    "SELECT value, variant, users FROM slice_exposure_stats WHERE experiment = ?1 AND "
    "dimension = ?2 AND NOT EXISTS " REBUILDING " UNION ALL SELECT value, variant, users FROM "
    "slice_exposure_stats_frozen WHERE experiment = ?1 AND dimension = ?2 AND EXISTS " REBUILDING
    " ORDER BY 1, 2";

int sqlite_slice_exposures(struct store *s, const char *experiment, const char *dimension,
                           void (*emit)(void *ctx, const char *value, const char *variant,
                                        int64_t users),
                           void *ctx, struct err *err)
{
    struct sqlite_conn *c = NULL;
    sqlite3_stmt *st = sqlite_read_prepare(s, NULL, SQL_SLICE_EXPOSED, &c, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, dimension);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *value = (const char *)sqlite3_column_text(st, 0);
        const char *variant = (const char *)sqlite3_column_text(st, 1);
        if (value != NULL && variant != NULL) {
            emit(ctx, value, variant, sqlite3_column_int64(st, 2));
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_err(c->db, rc, "read slice exposures", err);
}

/* ---- rebuilds ---- */

/* ?1 experiment ?2 stop ?3 after ?4 last */
static const char SQL_R_SLICE_USERS[] =
    "INSERT INTO slice_exposure_stats (experiment, dimension, value, variant, users) "
    "SELECT x.experiment, d.dimension, d.value, x.variant, COUNT(*) FROM exposures x INDEXED BY "
    "exposures_experiment_user JOIN exposure_dims d ON d.user_id = x.user_id AND d.experiment = "
    "x.experiment WHERE x.experiment = ?1 AND x.ts < ?2 AND x.user_id > ?3 AND x.user_id <= ?4 "
    "GROUP BY d.dimension, d.value, x.variant ON CONFLICT (experiment, dimension, value, variant) "
    "DO UPDATE SET users = users + excluded.users";
/* every user's (dimension, value, variant, y, x) of one rule, grouped by slice;
 * ?1 experiment ?2 metric ?3 is_binomial ?4 cap ?5 stop ?6 after ?7 last */
static const char SQL_R_SLICE_VALUES[] =
    "SELECT d.dimension, d.value, x.variant, "
    " MIN(CASE WHEN ?3 THEN (COALESCE(um.y_raw, 0) > 0) ELSE COALESCE(um.y_raw, 0) END, ?4), "
    " MIN(CASE WHEN ?3 THEN (COALESCE(um.x_raw, 0) > 0) ELSE COALESCE(um.x_raw, 0) END, ?4) "
    "FROM exposures x INDEXED BY exposures_experiment_user JOIN exposure_dims d ON d.user_id = "
    "x.user_id AND d.experiment = x.experiment LEFT JOIN user_metrics um ON um.user_id = "
    "x.user_id AND um.experiment = x.experiment AND um.metric = ?2 WHERE x.experiment = ?1 AND "
    "x.ts < ?5 AND x.user_id > ?6 AND x.user_id <= ?7 ORDER BY 1, 2, 3";

/* One rule's slices of the range, summed as double-doubles (as the main roll-ups). */
static int slices_rule(struct sqlite_conn *c, const char *experiment, const struct store_rule *r,
                       int64_t stop, const char *after, const char *last, struct err *err)
{
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_R_SLICE_VALUES, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite_bind_str(st, 2, r->metric);
    sqlite3_bind_int(st, 3, r->type == RULE_BINOMIAL);
    sqlite3_bind_double(st, 4, r->has_cap ? r->cap : 1e308);
    sqlite3_bind_int64(st, 5, stop);
    sqlite_bind_str(st, 6, after);
    sqlite_bind_str(st, 7, last);
    /* the rows are stepped to the end before any write: the statement reads what we add to */
    struct store_slice_sums ss = {0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *dim = (const char *)sqlite3_column_text(st, 0);
        const char *val = (const char *)sqlite3_column_text(st, 1);
        const char *var = (const char *)sqlite3_column_text(st, 2);
        if (dim == NULL || val == NULL || var == NULL) {
            continue;
        }
        store_slice_sums_add(&ss, dim, val, var, sqlite3_column_double(st, 3),
                             sqlite3_column_double(st, 4));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_slice_sums_free(&ss);
        return store_sqlite_err(c->db, rc, "rebuild slice statistics", err);
    }
    struct store_delta *d = store_slice_sums_deltas(&ss, experiment, r->metric);
    int out = 0;
    for (size_t i = 0; i < ss.n && out == 0; i++) {
        out = slice_stats_add(c, &d[i], err);
    }
    free(d);
    store_slice_sums_free(&ss);
    return out;
}

int sqlite_slices_range(struct sqlite_conn *c, const char *experiment, int64_t stop_ts,
                        const struct store_rule *const *rules, size_t n, const char *after,
                        const char *last, struct err *err)
{
    /* the whole experiment: every valid UTF-8 user id is > "" and < "\xff" */
    after = after != NULL ? after : "";
    last = last != NULL ? last : "\xff";
    int64_t stop = stop_ts > 0 ? stop_ts : FAR_FUTURE;
    sqlite3_stmt *st = sqlite_conn_prepare(c, SQL_R_SLICE_USERS, err);
    if (st == NULL) {
        return -1;
    }
    sqlite_bind_str(st, 1, experiment);
    sqlite3_bind_int64(st, 2, stop);
    sqlite_bind_str(st, 3, after);
    sqlite_bind_str(st, 4, last);
    if (sqlite_conn_step_done(c, st, "rebuild slice exposures", err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t rstop = rules[i]->stop_ts > 0 ? rules[i]->stop_ts : FAR_FUTURE;
        if (slices_rule(c, experiment, rules[i], rstop, after, last, err) != 0) {
            return -1;
        }
    }
    return 0;
}
