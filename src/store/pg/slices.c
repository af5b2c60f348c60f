/*
 * slices.c - the PostgreSQL adapter's dimension breakdowns (store_int.h,
 * migrations/postgres/0007_dimensions.sql), the twin of src/store/sqlite/slices.c: the values
 * recorded at first exposure (exposure_dims), the registry of distinct values
 * (dimension_values), the per-value roll-ups (slice_stats, slice_exposure_stats, rows per
 * daemon slot as the main roll-ups) that attribution adds deltas to, their reads (the kept
 * *_frozen copies while a rebuild runs; one row per slot, the caller sums them) and their
 * recompute from the raw rows for the rebuilds (summed by src/store/sums.c, shared with the
 * SQLite adapter: this file keeps only the SQL). Batches travel as arrays (unnest). Writer
 * thread, except the reads (pooled connections).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "pg_int.h"

static PGresult *run_texts(struct pg_conn *c, const char *sql, struct pg_text *t, int n,
                           struct err *err)
{
    const char *v[16] = {NULL};
    for (int i = 0; i < n; i++) {
        v[i] = pg_arr_end(&t[i]);
    }
    PGresult *r = pg_run(c, sql, n, v, NULL, 0, err);
    for (int i = 0; i < n; i++) {
        pg_text_free(&t[i]);
    }
    return r;
}

/* run_texts for a write whose result is not needed: deferred (pg_defer). 0 or -1. */
static int defer_texts(struct pg_conn *c, const char *sql, struct pg_text *t, int n,
                       struct err *err)
{
    const char *v[16] = {NULL};
    for (int i = 0; i < n; i++) {
        v[i] = pg_arr_end(&t[i]);
    }
    int rc = pg_defer(c, sql, n, v, NULL, 0, -1, err);
    for (int i = 0; i < n; i++) {
        pg_text_free(&t[i]);
    }
    return rc;
}

static void begin_texts(struct pg_text *t, int n)
{
    for (int i = 0; i < n; i++) {
        memset(&t[i], 0, sizeof(t[i]));
        pg_arr_begin(&t[i]);
    }
}

int pg_dims_get(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                void (*emit)(void *ctx, size_t i, const char *dimension, const char *value),
                void *ctx, struct err *err)
{
    static const char SQL[] =
        "SELECT t.i - 1, d.dimension, d.value FROM unnest($1::text[], $2::text[]) WITH "
        "ORDINALITY AS t(u, e, i) CROSS JOIN LATERAL (SELECT dimension, value FROM exposure_dims d "
        "WHERE d.user_id = t.u AND d.experiment = t.e OFFSET 0) d "
        "ORDER BY t.i, d.dimension COLLATE \"C\""; /* index probes: ingest.c */
    struct pg_text t[2];
    begin_texts(t, 2);
    for (size_t i = 0; i < n; i++) {
        pg_arr_str(&t[0], keys[i].user_id);
        pg_arr_str(&t[1], keys[i].experiment);
    }
    PGresult *r = run_texts(tx->conn, SQL, t, 2, err);
    if (r == NULL) {
        return -1;
    }
    for (int k = 0; k < PQntuples(r); k++) {
        emit(ctx, (size_t)pg_i64(r, k, 0), PQgetvalue(r, k, 1), PQgetvalue(r, k, 2));
    }
    PQclear(r);
    return 0;
}

/* One text array per field of rows, for fields "u" user_id, "e" experiment, "d" dimension,
 * "v" value, in the order given (t: at least strlen(fields) entries); returns their number. */
static int dimrow_texts(struct pg_text *t, const struct store_dimrow *rows, size_t n,
                        const char *fields)
{
    int k = (int)strlen(fields);
    begin_texts(t, k);
    for (size_t i = 0; i < n; i++) {
        for (int f = 0; f < k; f++) {
            const struct store_dimrow *r = &rows[i];
            pg_arr_str(&t[f], fields[f] == 'u'   ? r->user_id
                              : fields[f] == 'e' ? r->experiment
                              : fields[f] == 'd' ? r->dimension
                                                 : r->value);
        }
    }
    return k;
}

int pg_dims_put(struct store_tx *tx, const struct store_dimrow *rows, size_t n, struct err *err)
{
    static const char SQL[] =
        "INSERT INTO exposure_dims (user_id, experiment, dimension, value) SELECT * FROM "
        "unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING";
    struct pg_text t[4];
    return defer_texts(tx->conn, SQL, t, dimrow_texts(t, rows, n, "uedv"), err);
}

int pg_dim_values_known(struct store_tx *tx, const struct store_dimrow *rows, size_t n, bool *known,
                        int64_t *distinct, struct err *err)
{
    static const char SQL[] =
        "SELECT t.i - 1, EXISTS (SELECT 1 FROM dimension_values v WHERE v.experiment = t.e AND "
        "v.dimension = t.d AND v.value = t.v), (SELECT COUNT(*) FROM dimension_values v WHERE "
        "v.experiment = t.e AND v.dimension = t.d) FROM unnest($1::text[], $2::text[], "
        "$3::text[]) WITH ORDINALITY AS t(e, d, v, i)";
    struct pg_text t[3];
    PGresult *r = run_texts(tx->conn, SQL, t, dimrow_texts(t, rows, n, "edv"), err);
    if (r == NULL) {
        return -1;
    }
    for (int k = 0; k < PQntuples(r); k++) {
        size_t i = (size_t)pg_i64(r, k, 0);
        if (i < n) {
            known[i] = strcmp(PQgetvalue(r, k, 1), "t") == 0;
            distinct[i] = pg_i64(r, k, 2);
        }
    }
    PQclear(r);
    return 0;
}

/* The locks of (experiment, dimension) pairs whose new values a call registers. They come
 * after every user lock of the transaction's first user-lock statement, and the first call
 * of a transaction waits for them in one statement, in key order. A later call (another job
 * of the group) holds some already: waiting then could close a cycle with a transaction of
 * another daemon holding these and waiting for ours (its jobs in the other order), so it
 * takes them only where free and otherwise fails as retryable (the job runs again, first in
 * a later group). New values are registered until a dimension has 100: rarely contended. */
int pg_dim_values_lock(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                       struct err *err)
{
    static const char SQL[] =
        "SELECT pg_advisory_xact_lock(" PG_LOCK_DIMENSION ", h) FROM (SELECT DISTINCT "
        "hashtext(e || chr(31) || d) AS h FROM unnest($1::text[], $2::text[]) AS t(e, d) "
        "ORDER BY 1) s";
    static const char SQL_TRY[] =
        "SELECT h FROM (SELECT DISTINCT hashtext(e || chr(31) || d) AS h FROM "
        "unnest($1::text[], $2::text[]) AS t(e, d)) s WHERE NOT "
        "pg_try_advisory_xact_lock(" PG_LOCK_DIMENSION ", h)";
    struct pg_conn *c = tx->conn;
    struct pg_text t[2];
    int k = dimrow_texts(t, rows, n, "ed");
    if (!c->dim_locks) {
        c->dim_locks = true;
        return defer_texts(c, SQL, t, k, err);
    }
    /* a refusal is found with the read that follows (dim_values_known), before any write */
    const char *v[2] = {pg_arr_end(&t[0]), pg_arr_end(&t[1])};
    int rc = pg_defer_try(c, SQL_TRY, 2, v, NULL, 0, err);
    pg_text_free(&t[0]);
    pg_text_free(&t[1]);
    return rc;
}

int pg_dim_values_put(struct store_tx *tx, const struct store_dimrow *rows, size_t n,
                      struct err *err)
{
    static const char SQL[] = "INSERT INTO dimension_values (experiment, dimension, value) "
                              "SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) "
                              "ON CONFLICT DO NOTHING";
    struct pg_text t[3];
    return defer_texts(tx->conn, SQL, t, dimrow_texts(t, rows, n, "edv"), err);
}

/* TwoSum of the stored hi and the delta's hi into *_lo, as the main roll-ups (ingest.c). */
#define TWO_SUM(c)                                                                                 \
    c " = m." c " + EXCLUDED." c ", " c "_lo = m." c "_lo + EXCLUDED." c "_lo + ((m." c            \
      " - ((m." c " + EXCLUDED." c ") - ((m." c " + EXCLUDED." c ") - m." c "))) + (EXCLUDED." c   \
      " - ((m." c " + EXCLUDED." c ") - m." c ")))"

int pg_slice_add(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err)
{
    static const char SQL_STATS[] =
        "INSERT INTO slice_stats AS m (experiment, metric, dimension, value, variant, slot, n, s, "
        "q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm) SELECT t.e, t.k, t.d, t.val, t.v, "
        "$16::int, t.n, t.s, t.q, t.sx, t.qx, t.p, t.sl, t.ql, t.sxl, t.qxl, t.pl, t.h FROM "
        "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], "
        "$7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[], "
        "$13::float8[], $14::float8[], $15::float8[], $17::float8[], $18::float8[]) AS t(e, k, "
        "d, val, v, n, s, q, sx, qx, p, sl, ql, sxl, qxl, pl, h) ON CONFLICT (experiment, metric, "
        "dimension, value, variant, slot) DO UPDATE SET n = m.n + EXCLUDED.n, hwm = "
        "GREATEST(m.hwm, EXCLUDED.hwm, abs(m.q + EXCLUDED.q), abs(m.qx + EXCLUDED.qx), "
        "abs(m.p + EXCLUDED.p)), " TWO_SUM("s") ", " TWO_SUM("q") ", " TWO_SUM("sx") ", " TWO_SUM(
            "qx") ", " TWO_SUM("p");
    static const char SQL_USERS[] =
        "INSERT INTO slice_exposure_stats AS m (experiment, dimension, value, variant, slot, "
        "users) SELECT t.e, t.d, t.val, t.v, $6::int, t.n FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::text[], $5::bigint[]) AS t(e, d, val, v, n) ON CONFLICT (experiment, "
        "dimension, value, variant, slot) DO UPDATE SET users = m.users + EXCLUDED.users";
    char slot[16];
    snprintf(slot, sizeof(slot), "%d", pg_be(tx->store)->slot);
    struct pg_text t[17];
    begin_texts(t, 17);
    struct pg_text u[5];
    begin_texts(u, 5);
    size_t nst = 0, nus = 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_delta *e = &d[i];
        if (e->kind == DELTA_SLICE_STATS) {
            pg_arr_str(&t[0], e->experiment);
            pg_arr_str(&t[1], e->metric);
            pg_arr_str(&t[2], e->dimension);
            pg_arr_str(&t[3], e->value);
            pg_arr_str(&t[4], e->variant);
            pg_arr_i64(&t[5], e->dn);
            const double x[] = {e->ds,    e->dq,    e->dsx,    e->dqx,    e->dp,
                                e->ds_lo, e->dq_lo, e->dsx_lo, e->dqx_lo, e->dp_lo};
            for (int k = 0; k < 10; k++) {
                pg_arr_f64(&t[6 + k], x[k]);
            }
            pg_arr_f64(&t[16], e->hwm);
            nst++;
        } else if (e->kind == DELTA_SLICE_EXPOSURES) {
            pg_arr_str(&u[0], e->experiment);
            pg_arr_str(&u[1], e->dimension);
            pg_arr_str(&u[2], e->value);
            pg_arr_str(&u[3], e->variant);
            pg_arr_i64(&u[4], e->dn);
            nus++;
        }
    }
    int rc = 0;
    const char *v[18];
    for (int k = 0; k < 15; k++) {
        v[k] = pg_arr_end(&t[k]);
    }
    v[15] = slot;
    v[16] = pg_arr_end(&t[15]);
    v[17] = pg_arr_end(&t[16]);
    if (nst > 0) {
        rc = pg_defer(tx->conn, SQL_STATS, 18, v, NULL, 0, -1, err);
    }
    for (int k = 0; k < 17; k++) {
        pg_text_free(&t[k]);
    }
    const char *w[6];
    for (int k = 0; k < 5; k++) {
        w[k] = pg_arr_end(&u[k]);
    }
    w[5] = slot;
    if (rc == 0 && nus > 0) {
        rc = pg_defer(tx->conn, SQL_USERS, 6, w, NULL, 0, -1, err);
    }
    for (int k = 0; k < 5; k++) {
        pg_text_free(&u[k]);
    }
    return rc;
}

#define REBUILDING "(SELECT 1 FROM rollup_rebuilds WHERE experiment = $1)"
#define SLICE_COLS "value, variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm"

int pg_slice_read(struct store *s, const char *experiment, const char *metric,
                  const char *dimension,
                  void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                  void *ctx, struct err *err)
{
    /* one row per daemon slot: the caller sums them as double-doubles */
    static const char SQL[] =
        "SELECT * FROM (SELECT " SLICE_COLS " FROM slice_stats WHERE experiment = $1 AND "
        "metric = $2 AND dimension = $3 AND NOT EXISTS " REBUILDING " UNION ALL SELECT " SLICE_COLS
        " FROM slice_stats_frozen WHERE experiment = $1 AND metric = $2 AND dimension = $3 AND "
        "EXISTS " REBUILDING ") u ORDER BY value COLLATE \"C\", variant COLLATE \"C\"";
    const char *v[] = {experiment, metric, dimension};
    PGresult *r = pg_read(s, NULL, SQL, 3, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    for (int k = 0; k < PQntuples(r); k++) {
        struct store_suff x;
        snprintf(x.variant, sizeof(x.variant), "%s", PQgetvalue(r, k, 1));
        x.n = pg_i64(r, k, 2);
        double *f[] = {&x.s,    &x.q,     &x.sx,    &x.qx,   &x.p,  &x.s_lo,
                       &x.q_lo, &x.sx_lo, &x.qx_lo, &x.p_lo, &x.hwm};
        for (int i = 0; i < 11; i++) {
            *f[i] = pg_f64(r, k, 3 + i);
        }
        emit(ctx, PQgetvalue(r, k, 0), &x);
    }
    PQclear(r);
    return 0;
}

int pg_slice_exposures(struct store *s, const char *experiment, const char *dimension,
                       void (*emit)(void *ctx, const char *value, const char *variant,
                                    int64_t users),
                       void *ctx, struct err *err)
{
    static const char SQL[] =
        "SELECT * FROM (SELECT value, variant, users FROM slice_exposure_stats WHERE experiment = "
        "$1 AND dimension = $2 AND NOT EXISTS " REBUILDING " UNION ALL SELECT value, variant, "
        "users FROM slice_exposure_stats_frozen WHERE experiment = $1 AND dimension = $2 AND "
        "EXISTS " REBUILDING ") u ORDER BY value COLLATE \"C\", variant COLLATE \"C\"";
    const char *v[] = {experiment, dimension};
    PGresult *r = pg_read(s, NULL, SQL, 2, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    for (int k = 0; k < PQntuples(r); k++) {
        emit(ctx, PQgetvalue(r, k, 0), PQgetvalue(r, k, 1), pg_i64(r, k, 2));
    }
    PQclear(r);
    return 0;
}

/* ---- rebuilds ---- */

/* Two shapes of each statement: over a chunk's users ($n text[], a rebuild: each table
 * probed by user_id in a LATERAL subquery, as rebuild.c's chunk statements and for the same
 * reason, whatever the statistics) and over the whole experiment (a full rebuild). */
#define USERS_EXPOSED(n)                                                                           \
    "unnest($" n "::text[]) AS t(u) CROSS JOIN LATERAL (SELECT experiment, variant, ts FROM "      \
    "exposures x WHERE x.user_id = t.u OFFSET 0) x CROSS JOIN LATERAL (SELECT dimension, value "   \
    "FROM exposure_dims d WHERE d.user_id = t.u AND d.experiment = $1 OFFSET 0) d"
#define ALL_EXPOSED                                                                                \
    "exposures x JOIN exposure_dims d ON d.user_id = x.user_id AND d.experiment = x.experiment"
/* $1 experiment $2 stop [$3 users] */
#define R_USERS(from)                                                                              \
    "SELECT d.dimension, d.value, x.variant, COUNT(*) FROM " from " WHERE x.experiment = $1 AND "  \
    "x.ts < $2::bigint GROUP BY d.dimension, d.value, x.variant"
static const char SQL_R_USERS[] = R_USERS(USERS_EXPOSED("3"));
static const char SQL_R_USERS_ALL[] = R_USERS(ALL_EXPOSED);
/* $1 experiment $2 metric $3 is_binomial $4 cap $5 stop [$6 users] */
#define R_VALUES(from, um)                                                                         \
    "SELECT d.dimension, d.value, x.variant, "                                                     \
    " LEAST(CASE WHEN $3::bool THEN (CASE WHEN COALESCE(um.y_raw, 0) > 0 THEN 1.0 ELSE 0.0 "       \
    "  END) ELSE COALESCE(um.y_raw, 0) END, $4::float8), "                                         \
    " LEAST(CASE WHEN $3::bool THEN (CASE WHEN COALESCE(um.x_raw, 0) > 0 THEN 1.0 ELSE 0.0 "       \
    "  END) ELSE COALESCE(um.x_raw, 0) END, $4::float8) "                                          \
    "FROM " from " LEFT JOIN " um " WHERE x.experiment = $1 AND x.ts < $5::bigint"                 \
    " ORDER BY d.dimension COLLATE \"C\", d.value COLLATE \"C\", x.variant COLLATE \"C\""
static const char SQL_R_VALUES[] = R_VALUES(
    USERS_EXPOSED("6"), "LATERAL (SELECT y_raw, x_raw FROM user_metrics um WHERE um.experiment = "
                        "$1 AND um.user_id = t.u AND um.metric = $2 LIMIT 1) um ON true");
static const char SQL_R_VALUES_ALL[] =
    R_VALUES(ALL_EXPOSED, "user_metrics um ON um.user_id = x.user_id AND um.experiment = "
                          "x.experiment AND um.metric = $2");

static int slices_rule(struct store_tx *tx, const char *experiment, const struct store_rule *r,
                       const char *users, struct err *err)
{
    char cap[40], stop[32];
    snprintf(cap, sizeof(cap), "%.17g", r->has_cap ? r->cap : 1e308);
    snprintf(stop, sizeof(stop), "%" PRId64, r->stop_ts > 0 ? r->stop_ts : FAR_FUTURE);
    const char *v[] = {experiment, r->metric, r->type == RULE_BINOMIAL ? "true" : "false",
                       cap,        stop,      users};
    PGresult *res = users != NULL ? pg_run(tx->conn, SQL_R_VALUES, 6, v, NULL, 0, err)
                                  : pg_run(tx->conn, SQL_R_VALUES_ALL, 5, v, NULL, 0, err);
    if (res == NULL) {
        return -1;
    }
    struct store_slice_sums ss = {0};
    for (int k = 0; k < PQntuples(res); k++) {
        store_slice_sums_add(&ss, PQgetvalue(res, k, 0), PQgetvalue(res, k, 1),
                             PQgetvalue(res, k, 2), pg_f64(res, k, 3), pg_f64(res, k, 4));
    }
    PQclear(res);
    struct store_delta *d = store_slice_sums_deltas(&ss, experiment, r->metric);
    int rc = ss.n > 0 ? pg_slice_add(tx, d, ss.n, err) : 0;
    free(d);
    store_slice_sums_free(&ss);
    return rc;
}

int pg_slices_range(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                    const struct store_rule *const *rules, size_t n, const char *users,
                    struct err *err)
{
    char stop[32];
    snprintf(stop, sizeof(stop), "%" PRId64, stop_ts > 0 ? stop_ts : FAR_FUTURE);
    const char *v[] = {experiment, stop, users};
    PGresult *res = users != NULL ? pg_run(tx->conn, SQL_R_USERS, 3, v, NULL, 0, err)
                                  : pg_run(tx->conn, SQL_R_USERS_ALL, 2, v, NULL, 0, err);
    if (res == NULL) {
        return -1;
    }
    int rows = PQntuples(res);
    struct store_delta *d = xcalloc(rows > 0 ? (size_t)rows : 1, sizeof(*d));
    for (int k = 0; k < rows; k++) {
        d[k] = (struct store_delta){.kind = DELTA_SLICE_EXPOSURES,
                                    .experiment = experiment,
                                    .dimension = PQgetvalue(res, k, 0),
                                    .value = PQgetvalue(res, k, 1),
                                    .variant = PQgetvalue(res, k, 2),
                                    .dn = pg_i64(res, k, 3)};
    }
    int rc = rows > 0 ? pg_slice_add(tx, d, (size_t)rows, err) : 0;
    free(d);
    PQclear(res);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = slices_rule(tx, experiment, rules[i], users, err);
    }
    return rc;
}
