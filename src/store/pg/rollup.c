/*
 * rollup.c - the PostgreSQL adapter: reading the roll-ups that attribution maintains (the
 * slots of every daemon summed), rebuilding them from the raw rows with set-based SQL when
 * a definition changes, and compaction (store.h). The rebuild writes slot 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "pg_int.h"

#define FAR_FUTURE ((int64_t)1 << 62)

#define I64(buf, v) (snprintf((buf), sizeof(buf), "%" PRId64, (int64_t)(v)), (const char *)(buf))

static int run(struct store_tx *tx, const char *sql, int n, const char *const *v, struct err *err)
{
    PGresult *r = pg_run(tx->conn, sql, n, v, NULL, 0, err);
    PQclear(r);
    return r ? 0 : -1;
}

/* $1 experiment $2 metric $3 event $4 is_sum $5 window (ms) $6 stop ts $7 lookback (ms) */
static const char SQL_RB_USERS[] =
    "INSERT INTO user_metrics (user_id, experiment, metric, y_raw, x_raw) "
    "SELECT x.user_id, x.experiment, $2, "
    " (SELECT CASE WHEN $4::bool THEN COALESCE(SUM(e.value ORDER BY e.ts, e.seq), 0) "
    "   ELSE COUNT(*) END FROM events e WHERE e.user_id = x.user_id AND e.event = $3 "
    "   AND e.ts >= x.ts AND e.ts < LEAST(x.ts + $5::bigint, $6::bigint)), "
    " CASE WHEN $7::bigint > 0 THEN (SELECT CASE WHEN $4::bool THEN "
    "   COALESCE(SUM(e.value ORDER BY e.ts, e.seq), 0) ELSE COUNT(*) END "
    "   FROM events e WHERE e.user_id = x.user_id AND e.event = $3 "
    "   AND e.ts >= x.ts - $7::bigint AND e.ts < x.ts) ELSE 0 END "
    "FROM exposures x WHERE x.experiment = $1 AND x.ts < $6::bigint";
static const char SQL_RB_ZEROS[] = "DELETE FROM user_metrics WHERE experiment = $1 AND metric = $2 "
                                   "AND y_raw = 0 AND x_raw = 0";
/* $1 experiment $2 metric $3 is_binomial $4 cap $5 stop ts */
static const char SQL_RB_STATS[] =
    "INSERT INTO metric_stats (experiment, metric, variant, slot, n, s, q, sx, qx, p) "
    "SELECT $1, $2, variant, 0, COUNT(*), COALESCE(SUM(y), 0), COALESCE(SUM(y * y), 0), "
    " COALESCE(SUM(xv), 0), COALESCE(SUM(xv * xv), 0), COALESCE(SUM(xv * y), 0) FROM ("
    " SELECT x.variant AS variant, "
    "  LEAST(CASE WHEN $3::bool THEN (CASE WHEN COALESCE(um.y_raw, 0) > 0 THEN 1.0 ELSE 0.0 "
    "   END) ELSE COALESCE(um.y_raw, 0) END, $4::float8) AS y, "
    "  LEAST(CASE WHEN $3::bool THEN (CASE WHEN COALESCE(um.x_raw, 0) > 0 THEN 1.0 ELSE 0.0 "
    "   END) ELSE COALESCE(um.x_raw, 0) END, $4::float8) AS xv "
    " FROM exposures x LEFT JOIN LATERAL (SELECT y_raw, x_raw FROM user_metrics u "
    "  WHERE u.user_id = x.user_id AND u.experiment = x.experiment AND u.metric = $2 LIMIT 1) "
    "  um ON true WHERE x.experiment = $1 AND x.ts < $5::bigint) t GROUP BY variant";
/* As rollup.c of SQLite: users count on the day of their first exposure, each event moves y
 * by f(running raw) - f(running raw - inc) on its day.
 * $1 experiment $2 metric $3 event $4 is_sum $5 window $6 stop $7 is_binomial $8 cap */
static const char SQL_RB_DAILY[] =
    "INSERT INTO metric_daily (experiment, metric, variant, day, slot, dn, ds, dq) "
    "SELECT $1, $2, variant, day, 0, SUM(dn), COALESCE(SUM(dy), 0), COALESCE(SUM(dq), 0) FROM ("
    " SELECT x.variant AS variant, x.ts / 86400000 AS day, 1 AS dn, 0.0::float8 AS dy, "
    "  0.0::float8 AS dq FROM exposures x WHERE x.experiment = $1 AND x.ts < $6::bigint "
    " UNION ALL "
    " SELECT variant, ts / 86400000, 0, y1 - y0, y1 * y1 - y0 * y0 FROM ("
    "  SELECT variant, ts, "
    "   LEAST(CASE WHEN $7::bool THEN (CASE WHEN cum > 0 THEN 1.0 ELSE 0.0 END) ELSE cum END, "
    "    $8::float8) AS y1, "
    "   LEAST(CASE WHEN $7::bool THEN (CASE WHEN cum - inc > 0 THEN 1.0 ELSE 0.0 END) "
    "    ELSE cum - inc END, $8::float8) AS y0 FROM ("
    "    SELECT x.variant AS variant, e.ts AS ts, "
    "     CASE WHEN $4::bool THEN e.value ELSE 1.0 END AS inc, "
    "     SUM(CASE WHEN $4::bool THEN e.value ELSE 1.0 END) OVER (PARTITION BY e.user_id "
    "      ORDER BY e.ts, e.seq) AS cum "
    "    FROM exposures x JOIN events e ON e.user_id = x.user_id AND e.event = $3 "
    "     AND e.ts >= x.ts AND e.ts < LEAST(x.ts + $5::bigint, $6::bigint) "
    "    WHERE x.experiment = $1 AND x.ts < $6::bigint) a) b) c "
    "GROUP BY variant, day";

static int rebuild_rule(struct store_tx *tx, const char *experiment, const struct store_rule *r,
                        struct err *err)
{
    char win[32], stop[32], look[32], cap[40];
    const char *is_sum = r->type == RULE_SUM ? "true" : "false";
    const char *is_bin = r->type == RULE_BINOMIAL ? "true" : "false";
    I64(win, r->window_ms > 0 ? r->window_ms : FAR_FUTURE);
    I64(stop, r->stop_ts > 0 ? r->stop_ts : FAR_FUTURE);
    I64(look, r->lookback_ms);
    snprintf(cap, sizeof(cap), "%.17g", r->has_cap ? r->cap : 1e308);
    const char *vu[] = {experiment, r->metric, r->event, is_sum, win, stop, look};
    const char *vz[] = {experiment, r->metric};
    const char *vs[] = {experiment, r->metric, is_bin, cap, stop};
    const char *vd[] = {experiment, r->metric, r->event, is_sum, win, stop, is_bin, cap};
    /* fresh statistics for the rows just written: the joins below then look users up by key
     * instead of scanning (an unanalyzed table can make the planner scan per row) */
    static const char SQL_ANALYZE[] = "ANALYZE user_metrics";
    return run(tx, SQL_RB_USERS, 7, vu, err) != 0 || run(tx, SQL_RB_ZEROS, 2, vz, err) != 0 ||
                   run(tx, SQL_ANALYZE, 0, NULL, err) != 0 ||
                   run(tx, SQL_RB_STATS, 5, vs, err) != 0 || run(tx, SQL_RB_DAILY, 8, vd, err) != 0
               ? -1
               : 0;
}

int pg_rollup_rebuild(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                      const struct store_rule *const *rules, size_t n, struct err *err)
{
    static const char SQL_DEL_UM[] = "DELETE FROM user_metrics WHERE experiment = $1";
    static const char SQL_DEL_STATS[] = "DELETE FROM metric_stats WHERE experiment = $1";
    static const char SQL_DEL_DAILY[] = "DELETE FROM metric_daily WHERE experiment = $1";
    static const char SQL_DEL_EXPOSTAT[] = "DELETE FROM exposure_stats WHERE experiment = $1";
    static const char SQL_EXPOSTAT[] =
        "INSERT INTO exposure_stats (experiment, variant, slot, users, conflicts) "
        "SELECT experiment, variant, 0, COUNT(*), COALESCE(SUM(conflicts), 0) FROM exposures "
        "WHERE experiment = $1 AND ts < $2::bigint GROUP BY experiment, variant";
    const char *v1[] = {experiment};
    const char *dels[] = {SQL_DEL_UM, SQL_DEL_STATS, SQL_DEL_DAILY, SQL_DEL_EXPOSTAT};
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
    return 0;
}

/* A read on a pooled connection: the result (PQclear it) or NULL. */
static PGresult *read_rows(struct store *s, const char *sql, int n, const char *const *v,
                           struct err *err)
{
    struct pg_conn *c = pg_reader_get(s, err);
    if (c == NULL) {
        return NULL;
    }
    PGresult *r = pg_run(c, sql, n, v, NULL, 0, err);
    pg_reader_put(s, c);
    return r;
}

int pg_rollup_read(struct store *s, const char *experiment, const char *metric,
                   void (*emit)(void *ctx, const struct store_suff *st), void *ctx, struct err *err)
{
    static const char SQL[] =
        "SELECT variant, SUM(n), SUM(s), SUM(q), SUM(sx), SUM(qx), SUM(p) FROM metric_stats "
        "WHERE experiment = $1 AND metric = $2 GROUP BY variant ORDER BY variant COLLATE \"C\"";
    const char *v[] = {experiment, metric};
    PGresult *r = read_rows(s, SQL, 2, v, err);
    if (r == NULL) {
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_suff x;
        snprintf(x.variant, sizeof(x.variant), "%s", PQgetvalue(r, i, 0));
        x.n = pg_i64(r, i, 1);
        x.s = pg_f64(r, i, 2);
        x.q = pg_f64(r, i, 3);
        x.sx = pg_f64(r, i, 4);
        x.qx = pg_f64(r, i, 5);
        x.p = pg_f64(r, i, 6);
        emit(ctx, &x);
    }
    PQclear(r);
    return 0;
}

int pg_rollup_daily(struct store *s, const char *experiment, const char *metric,
                    void (*emit)(void *ctx, const char *variant, int64_t day, int64_t n, double sum,
                                 double sumsq),
                    void *ctx, struct err *err)
{
    static const char SQL[] =
        "SELECT variant, day, SUM(dn), SUM(ds), SUM(dq) FROM metric_daily WHERE experiment = $1 "
        "AND metric = $2 GROUP BY variant, day ORDER BY variant COLLATE \"C\", day";
    const char *v[] = {experiment, metric};
    PGresult *r = read_rows(s, SQL, 2, v, err);
    if (r == NULL) {
        return -1;
    }
    char cur[65] = "";
    int64_t n = 0;
    double sum = 0, sumsq = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *variant = PQgetvalue(r, i, 0);
        if (strcmp(variant, cur) != 0) {
            snprintf(cur, sizeof(cur), "%s", variant);
            n = 0;
            sum = sumsq = 0;
        }
        n += pg_i64(r, i, 2);
        sum += pg_f64(r, i, 3);
        sumsq += pg_f64(r, i, 4);
        emit(ctx, variant, pg_i64(r, i, 1), n, sum, sumsq);
    }
    PQclear(r);
    return 0;
}

int pg_exposure_by_variant(struct store *s, const char *experiment,
                           void (*emit)(void *ctx, const char *variant, int64_t users), void *ctx,
                           int64_t *conflicts, struct err *err)
{
    static const char SQL[] =
        "SELECT variant, SUM(users), SUM(conflicts) FROM exposure_stats WHERE experiment = $1 "
        "GROUP BY variant ORDER BY variant COLLATE \"C\"";
    const char *v[] = {experiment};
    PGresult *r = read_rows(s, SQL, 1, v, err);
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

int pg_compact(struct store *s, int64_t horizon_ms, struct store_compact_stats *out,
               struct err *err)
{
    static const char SQL_ARCHIVED_UM[] =
        "DELETE FROM user_metrics WHERE ctid IN (SELECT ctid FROM user_metrics WHERE "
        "experiment IN (SELECT key FROM experiments WHERE status = 'archived') LIMIT $1::int)";
    static const char SQL_ARCHIVED_EXPO[] =
        "DELETE FROM exposures WHERE ctid IN (SELECT ctid FROM exposures WHERE experiment IN "
        "(SELECT key FROM experiments WHERE status = 'archived') LIMIT $1::int)";
    static const char SQL_MAX_SEQ[] = "SELECT COALESCE(MAX(seq), 0) FROM events";
    static const char SQL_OLD_EVENTS[] =
        "DELETE FROM events WHERE seq >= $1::bigint AND seq < $2::bigint AND ts < $3::bigint "
        "AND NOT EXISTS (SELECT 1 FROM exposures x JOIN experiments e ON e.key = x.experiment "
        "WHERE x.user_id = events.user_id AND e.status <> 'archived')";
    struct pg_store *p = pg_be(s);
    *out = (struct store_compact_stats){0};
    if (pg_conn_ensure(p->writer, p->conninfo, err) != 0 ||
        delete_chunks(p->writer, SQL_ARCHIVED_UM, &out->user_values, err) != 0 ||
        delete_chunks(p->writer, SQL_ARCHIVED_EXPO, &out->exposures, err) != 0) {
        return -1;
    }
    PGresult *r = pg_run(p->writer, SQL_MAX_SEQ, 0, NULL, NULL, 0, err);
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
