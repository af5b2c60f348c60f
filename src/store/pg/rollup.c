/*
 * rollup.c - the PostgreSQL adapter: reading the roll-ups that attribution maintains (the
 * slots of every daemon summed), rebuilding them from the raw rows with set-based SQL in one
 * transaction (store_rollup_rebuild: the tests' and bench/'s reference for the chunked
 * rebuild of rebuild.c, which is what the daemon runs when a definition changes), and
 * compaction (store.h). The rebuild writes slot 0.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/ddouble.h"
#include "bunsen/util.h"
#include "pg_int.h"

#define I64(buf, v) (snprintf((buf), sizeof(buf), "%" PRId64, (int64_t)(v)), (const char *)(buf))

static int run(struct store_tx *tx, const char *sql, int n, const char *const *v, struct err *err)
{
    PGresult *r = pg_run(tx->conn, sql, n, v, NULL, 0, err);
    PQclear(r);
    return r ? 0 : -1;
}

static const char SQL_RB_STATS_PUT[] =
    "INSERT INTO metric_stats (experiment, metric, variant, slot, n, s, q, sx, qx, p, s_lo, "
    "q_lo, sx_lo, qx_lo, p_lo, hwm) VALUES ($1, $2, $3, 0, $4::bigint, $5::float8, $6::float8, "
    "$7::float8, $8::float8, $9::float8, $10::float8, $11::float8, $12::float8, $13::float8, "
    "$14::float8, $15::float8)";

static int rb_stats_put(struct store_tx *tx, const char *experiment, const char *metric,
                        const struct store_variant_sum *a, struct err *err)
{
    char num[12][40];
    snprintf(num[0], sizeof(num[0]), "%" PRId64, a->sums.n);
    const struct dd *v[] = {&a->sums.s, &a->sums.q, &a->sums.sx, &a->sums.qx, &a->sums.p};
    for (int i = 0; i < 5; i++) {
        snprintf(num[1 + i], sizeof(num[0]), "%.17g", v[i]->hi);
        snprintf(num[6 + i], sizeof(num[0]), "%.17g", v[i]->lo);
    }
    struct store_delta d = store_sums_delta(&a->sums, experiment, metric, a->variant);
    snprintf(num[11], sizeof(num[0]), "%.17g", d.hwm);
    const char *p[15] = {experiment, metric, a->variant};
    for (int i = 0; i < 12; i++) {
        p[3 + i] = num[i];
    }
    return run(tx, SQL_RB_STATS_PUT, 15, p, err);
}

/* The users' raw values from the raw rows (pg_rule_users, as a rebuild's chunk computes them),
 * then metric_stats (slot 0) and metric_daily from them. */
static int rebuild_rule(struct store_tx *tx, const char *experiment, const struct store_rule *r,
                        struct err *err)
{
    /* fresh statistics for the rows just written: the slices' joins then look users up by
     * key instead of scanning (an unanalyzed table can make the planner scan per row) */
    static const char SQL_ANALYZE[] = "ANALYZE user_metrics";
    struct store_rule_users u;
    store_rule_users_begin(&u, r);
    int rc = pg_rule_users(tx, experiment, r, NULL, &u, err);
    if (rc == 0) {
        rc = run(tx, SQL_ANALYZE, 0, NULL, err);
    }
    for (size_t i = 0; i < u.stats.n && rc == 0; i++) {
        rc = rb_stats_put(tx, experiment, r->metric, &u.stats.e[i], err);
    }
    if (rc == 0 && u.days.n > 0) {
        struct store_delta *d = store_daily_sums_deltas(&u.days, experiment, r->metric);
        rc = pg_rollup_add(tx, d, u.days.n, err);
        free(d);
    }
    store_rule_users_free(&u);
    return rc;
}

int pg_rollup_rebuild(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                      const struct store_rule *const *rules, size_t n, struct err *err)
{
    static const char SQL_DEL_UM[] = "DELETE FROM user_metrics WHERE experiment = $1";
    static const char SQL_DEL_STATS[] = "DELETE FROM metric_stats WHERE experiment = $1";
    static const char SQL_DEL_DAILY[] = "DELETE FROM metric_daily WHERE experiment = $1";
    static const char SQL_DEL_EXPOSTAT[] = "DELETE FROM exposure_stats WHERE experiment = $1";
    static const char SQL_DEL_SLICES[] = "DELETE FROM slice_stats WHERE experiment = $1";
    static const char SQL_DEL_SLICE_USERS[] =
        "DELETE FROM slice_exposure_stats WHERE experiment = $1";
    static const char SQL_EXPOSTAT[] =
        "INSERT INTO exposure_stats (experiment, variant, slot, users, conflicts) "
        "SELECT experiment, variant, 0, COUNT(*), COUNT(*) FILTER (WHERE conflict_ts < "
        "$2::bigint) FROM exposures WHERE experiment = $1 AND ts < $2::bigint "
        "GROUP BY experiment, variant";
    const char *v1[] = {experiment};
    const char *dels[] = {SQL_DEL_UM,       SQL_DEL_STATS,  SQL_DEL_DAILY,
                          SQL_DEL_EXPOSTAT, SQL_DEL_SLICES, SQL_DEL_SLICE_USERS};
    for (size_t i = 0; i < sizeof(dels) / sizeof(dels[0]); i++) {
        if (run(tx, dels[i], 1, v1, err) != 0) {
            return -1;
        }
    }
    char stop[32];
    const char *v2[] = {experiment, I64(stop, stop_ts > 0 ? stop_ts : FAR_FUTURE)};
    if (run(tx, SQL_EXPOSTAT, 2, v2, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (rebuild_rule(tx, experiment, rules[i], err) != 0) {
            return -1;
        }
    }
    return pg_slices_range(tx, experiment, stop_ts, rules, n, NULL, err);
}

/* While a rebuild runs (rebuild.c) the last complete roll-ups are the kept (*_frozen) ones;
 * one statement, one snapshot: never a mix of both. */
#define REBUILDING "(SELECT 1 FROM rollup_rebuilds WHERE experiment = $1)"

int pg_rollup_read(struct store *s, const char *experiment, const char *metric,
                   void (*emit)(void *ctx, const struct store_suff *st), void *ctx, struct err *err)
{
    /* one row per daemon slot: summed here as double-doubles (a SQL SUM would round) */
    static const char SQL[] =
        "SELECT * FROM (SELECT variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm "
        "FROM metric_stats WHERE experiment = $1 AND metric = $2 AND NOT EXISTS " REBUILDING
        " UNION ALL "
        "SELECT variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm FROM "
        "metric_stats_frozen WHERE experiment = $1 AND metric = $2 AND EXISTS " REBUILDING
        ") u ORDER BY variant COLLATE \"C\"";
    const char *v[] = {experiment, metric};
    PGresult *r = pg_read(s, NULL, SQL, 2, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    int rows = PQntuples(r);
    for (int i = 0; i < rows;) {
        const char *variant = PQgetvalue(r, i, 0);
        int64_t n = 0;
        double hwm = 0;
        struct dd sum[5] = {{0, 0}};
        int k = i;
        for (; k < rows && strcmp(PQgetvalue(r, k, 0), variant) == 0; k++) {
            n += pg_i64(r, k, 1);
            hwm = fmax(hwm, pg_f64(r, k, 12));
            for (int c = 0; c < 5; c++) {
                struct dd x = {pg_f64(r, k, 2 + c), pg_f64(r, k, 7 + c)};
                sum[c] = dd_add(sum[c], x);
            }
        }
        struct store_suff x;
        memset(&x, 0, sizeof(x));
        snprintf(x.variant, sizeof(x.variant), "%s", variant);
        x.n = n;
        x.hwm = hwm;
        double *hi[] = {&x.s, &x.q, &x.sx, &x.qx, &x.p};
        double *lo[] = {&x.s_lo, &x.q_lo, &x.sx_lo, &x.qx_lo, &x.p_lo};
        for (int c = 0; c < 5; c++) {
            *hi[c] = sum[c].hi;
            *lo[c] = sum[c].lo;
        }
        emit(ctx, &x);
        i = k;
    }
    PQclear(r);
    return 0;
}

int pg_rollup_daily(struct store *s, const char *experiment, const char *metric,
                    void (*emit)(void *ctx, int64_t day, const struct store_suff *st), void *ctx,
                    struct err *err)
{
#define DAILY_COLS                                                                                 \
    "variant, day, dn, ds, dq, ds_lo, dq_lo, hwm, dsx, dqx, dp, dsx_lo, dqx_lo, dp_lo, xsums"
    static const char SQL[] =
        "SELECT * FROM (SELECT " DAILY_COLS " FROM metric_daily WHERE experiment = $1 AND "
        "metric = $2 AND NOT EXISTS " REBUILDING " UNION ALL SELECT " DAILY_COLS " FROM "
        "metric_daily_frozen WHERE experiment = $1 AND metric = $2 AND EXISTS " REBUILDING
        ") u ORDER BY variant COLLATE \"C\", day";
#undef DAILY_COLS
    const char *v[] = {experiment, metric};
    PGresult *r = pg_read(s, NULL, SQL, 2, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    struct store_suff acc = {.variant = ""};
    struct dd sum[5];
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        const char *variant = PQgetvalue(r, i, 0);
        if (strcmp(variant, acc.variant) != 0) {
            snprintf(acc.variant, sizeof(acc.variant), "%s", variant);
            acc.n = 0;
            acc.hwm = 0;
            for (int k = 0; k < 5; k++) {
                sum[k] = dd_of(0);
            }
        }
        acc.n += pg_i64(r, i, 2);
        acc.hwm = fmax(acc.hwm, pg_f64(r, i, 7)); /* through this day */
        if (pg_i64(r, i, 14) == 0) {
            acc.hwm = INFINITY; /* no covariate sums (migration 0016): untrusted */
        }
        /* (column of the hi part, of the lo part) of S, Q, Sx, Qx, P */
        static const int at[5][2] = {{3, 5}, {4, 6}, {8, 11}, {9, 12}, {10, 13}};
        for (int k = 0; k < 5; k++) {
            sum[k] = dd_add(sum[k], (struct dd){pg_f64(r, i, at[k][0]), pg_f64(r, i, at[k][1])});
        }
        /* one point per day: the slots of a day are summed before it is emitted */
        int64_t day = pg_i64(r, i, 1);
        if (i + 1 < rows && strcmp(PQgetvalue(r, i + 1, 0), variant) == 0 &&
            pg_i64(r, i + 1, 1) == day) {
            continue;
        }
        acc.s = sum[0].hi, acc.s_lo = sum[0].lo, acc.q = sum[1].hi, acc.q_lo = sum[1].lo;
        acc.sx = sum[2].hi, acc.sx_lo = sum[2].lo, acc.qx = sum[3].hi, acc.qx_lo = sum[3].lo;
        acc.p = sum[4].hi, acc.p_lo = sum[4].lo;
        emit(ctx, day, &acc);
    }
    PQclear(r);
    return 0;
}

int pg_exposure_by_variant(struct store *s, const char *experiment,
                           void (*emit)(void *ctx, const char *variant, int64_t users), void *ctx,
                           int64_t *conflicts, struct err *err)
{
    static const char SQL[] =
        "SELECT variant, SUM(users), SUM(conflicts) FROM (SELECT variant, users, conflicts "
        "FROM exposure_stats WHERE experiment = $1 AND NOT EXISTS " REBUILDING " UNION ALL "
        "SELECT variant, users, conflicts FROM exposure_stats_frozen WHERE experiment = $1 AND "
        "EXISTS " REBUILDING ") x GROUP BY variant ORDER BY variant COLLATE \"C\"";
    const char *v[] = {experiment};
    PGresult *r = pg_read(s, NULL, SQL, 1, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    *conflicts = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        *conflicts += pg_i64(r, i, 2);
        emit(ctx, PQgetvalue(r, i, 0), pg_i64(r, i, 1));
    }
    PQclear(r);
    return 0;
}

/* ---- compaction (same rules as the SQLite adapter's compact.c) ---- */

#define CHUNK 10000

/* Repeat a chunked DELETE (autocommit: one short transaction each) until it deletes less
 * than a chunk; adds to *total. */
static int delete_chunks(struct pg_conn *c, const char *sql, int64_t *total, struct err *err)
{
    char chunk[16];
    snprintf(chunk, sizeof(chunk), "%d", CHUNK);
    const char *v[] = {chunk};
    for (;;) {
        PGresult *r = pg_run(c, sql, 1, v, NULL, 0, err);
        if (r == NULL) {
            return -1;
        }
        int64_t changed = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        *total += changed;
        if (changed < CHUNK) {
            return 0;
        }
    }
}

/* experiments that analyse a ratio metric (experiment_metrics lists guardrails too) */
#define RATIO_USERS                                                                                \
    "(SELECT u.experiment FROM experiment_metrics u JOIN metrics m ON m.key = u.metric WHERE "     \
    "m.doc::jsonb ->> 'type' = 'ratio')"
/* archived experiments whose roll-ups are complete and answer every result: one archived
 * while the rebuild of its stop still runs keeps its rows until that rebuild ends, one that
 * analyses a ratio metric keeps them for good, as the ratio sums them on each read
 * (sqlite/compact.c) */
#define DONE_ARCHIVED                                                                              \
    "(SELECT key FROM experiments WHERE status = 'archived' AND key NOT IN (SELECT experiment "    \
    "FROM rollup_rebuilds) AND key NOT IN " RATIO_USERS ")"

int pg_compact(struct store *s, int64_t horizon_ms, struct store_compact_stats *out,
               struct err *err)
{
    static const char SQL_ARCHIVED_UM[] =
        "DELETE FROM user_metrics WHERE ctid IN (SELECT ctid FROM user_metrics WHERE "
        "experiment IN " DONE_ARCHIVED " LIMIT $1::int)";
    static const char SQL_ARCHIVED_EXPO[] =
        "DELETE FROM exposures WHERE ctid IN (SELECT ctid FROM exposures WHERE experiment "
        "IN " DONE_ARCHIVED " LIMIT $1::int)";
    /* the dimension values recorded at first exposure go with the exposures (0007) */
    static const char SQL_ARCHIVED_DIMS[] =
        "DELETE FROM exposure_dims WHERE ctid IN (SELECT ctid FROM exposure_dims WHERE "
        "experiment IN " DONE_ARCHIVED " LIMIT $1::int)";
    static const char SQL_MAX_SEQ[] = "SELECT COALESCE(MAX(seq), 0) FROM events";
    static const char SQL_OLD_EVENTS[] =
        "DELETE FROM events WHERE seq >= $1::bigint AND seq < $2::bigint AND ts < $3::bigint "
        "AND NOT EXISTS (SELECT 1 FROM exposures x JOIN experiments e ON e.key = x.experiment "
        "WHERE x.user_id = events.user_id AND (e.status <> 'archived' OR e.key IN (SELECT "
        "experiment FROM rollup_rebuilds)))";
    static const char SQL_REBUILDING[] =
        "SELECT COUNT(*) FROM experiments WHERE status = 'archived' AND key IN (SELECT "
        "experiment FROM rollup_rebuilds)";
    static const char SQL_RATIO_KEPT[] =
        "SELECT COUNT(*) FROM experiments WHERE status = 'archived' AND key NOT IN (SELECT "
        "experiment FROM rollup_rebuilds) AND key IN " RATIO_USERS;
    struct pg_store *p = pg_be(s);
    *out = (struct store_compact_stats){0};
    int64_t dims = 0;
    if (pg_conn_ensure(p->writer, p->conninfo, err) != 0) {
        return -1;
    }
    PGresult *r = pg_run(p->writer, SQL_REBUILDING, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    out->rebuilding = pg_i64(r, 0, 0);
    PQclear(r);
    r = pg_run(p->writer, SQL_RATIO_KEPT, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    out->ratio_kept = pg_i64(r, 0, 0);
    PQclear(r);
    if (delete_chunks(p->writer, SQL_ARCHIVED_UM, &out->user_values, err) != 0 ||
        delete_chunks(p->writer, SQL_ARCHIVED_EXPO, &out->exposures, err) != 0 ||
        delete_chunks(p->writer, SQL_ARCHIVED_DIMS, &dims, err) != 0) {
        return -1;
    }
    r = pg_run(p->writer, SQL_MAX_SEQ, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    int64_t max = pg_i64(r, 0, 0);
    PQclear(r);
    char before[32];
    I64(before, time_now_ms() - horizon_ms);
    for (int64_t lo = 0; lo <= max; lo += CHUNK) {
        char a[32], b[32];
        const char *v[] = {I64(a, lo), I64(b, lo + CHUNK), before};
        r = pg_run(p->writer, SQL_OLD_EVENTS, 3, v, NULL, 0, err);
        if (r == NULL) {
            return -1;
        }
        out->events += strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    return 0;
}

/* Keyset pagination over exposures_experiment (experiment, variant, ts) + user_id; $3 false
 * for the first page. The order is the database's collation of variant and user_id (byte
 * order under the C locale the tests use, as SQLite); comparison and ORDER BY use the same
 * one, so pages never skip or repeat a user. */
#define USERS_PAGE_COLS                                                                            \
    "SELECT x.user_id, x.variant, x.ts, COALESCE(a.y_raw, 0), COALESCE(a.x_raw, 0), "              \
    " COALESCE(b.y_raw, 0), COALESCE(b.x_raw, 0)"
#define USERS_PAGE_VALUES                                                                          \
    "LEFT JOIN user_metrics a ON a.user_id = x.user_id AND a.experiment = x.experiment "           \
    " AND a.metric = $2 "                                                                          \
    "LEFT JOIN user_metrics b ON b.user_id = x.user_id AND b.experiment = x.experiment "           \
    " AND b.metric = $6 "
/* The keyset condition is always there (the first page starts after ("", INT64_MIN, ""),
 * before every row), so the index scan starts at it rather than filtering from the
 * experiment's first row on every page (as the SQLite adapter). */
#define USERS_PAGE_WHERE                                                                           \
    "WHERE x.experiment = $1 AND x.ts < $7::bigint AND (x.variant, x.ts, x.user_id) > ($3, "       \
    " $4::bigint, $5) ORDER BY x.variant, x.ts, x.user_id LIMIT $8::int"
static const char SQL_USERS_PAGE[] =
    USERS_PAGE_COLS " FROM exposures x " USERS_PAGE_VALUES USERS_PAGE_WHERE;
/* The same, only users with a recorded value of dimension $9, and the value. */
static const char SQL_USERS_PAGE_DIM[] =
    USERS_PAGE_COLS ", d.value FROM exposures x "
                    "JOIN exposure_dims d ON d.user_id = x.user_id AND d.experiment = x.experiment "
                    " AND d.dimension = $9 " USERS_PAGE_VALUES USERS_PAGE_WHERE;

int pg_users_page(struct store *s, const char *experiment, int64_t stop_ts, const char *metric,
                  const char *metric2, const char *dimension, struct store_users_cursor *cur,
                  int limit, void (*emit)(void *ctx, const struct store_user_row *row), void *ctx,
                  int *count, struct err *err)
{
    char ts[32], stop[32], lim[32];
    const char *v[] = {experiment,
                       metric,
                       cur->started ? cur->variant : "",
                       I64(ts, cur->started ? cur->ts : INT64_MIN),
                       cur->started ? cur->user_id : "",
                       metric2 ? metric2 : "",
                       I64(stop, stop_ts > 0 ? stop_ts : FAR_FUTURE),
                       I64(lim, limit),
                       dimension};
    *count = 0;
    PGresult *r = dimension ? pg_read(s, NULL, SQL_USERS_PAGE_DIM, 9, v, NULL, 0, err)
                            : pg_read(s, NULL, SQL_USERS_PAGE, 8, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_user_row row = {
            .user_id = PQgetvalue(r, i, 0),
            .variant = PQgetvalue(r, i, 1),
            .first_exposure = pg_i64(r, i, 2),
            .y = pg_f64(r, i, 3),
            .x = pg_f64(r, i, 4),
            .y2 = pg_f64(r, i, 5),
            .x2 = pg_f64(r, i, 6),
            .dim_value = dimension ? PQgetvalue(r, i, 7) : NULL,
        };
        emit(ctx, &row);
        str_copy(cur->variant, sizeof(cur->variant), row.variant);
        str_copy(cur->user_id, sizeof(cur->user_id), row.user_id);
        cur->ts = row.first_exposure;
        cur->started = true;
        (*count)++;
    }
    PQclear(r);
    return 0;
}
