/*
 * rebuild.c - the PostgreSQL adapter's rebuild primitives (store_int.h, src/store/rebuild.c):
 * the rebuild state, the kept roll-ups (*_frozen, migrations/postgres/0006) and the chunked
 * recompute of a range of users. Writer thread, except rebuild_get/list without a
 * transaction (a pooled reader).
 *
 * User ranges are compared in byte order (COLLATE "C"): the order of SQLite and of the C
 * code that compares a user id with the cursor (attribution_agg.c, strcmp), whatever the
 * database's default collation.
 *
 * Several daemons: every daemon's rebuilder finds the same rebuild in the database. A chunk
 * reads the state with FOR UPDATE inside its transaction, so a second daemon's chunk waits
 * for the first to commit and then starts at the cursor it left (READ COMMITTED re-reads
 * the row). A definition change (rebuild_begin) holds the catalogue lock exclusively, so
 * it never runs beside a chunk or an ingestion.
 *
 * A range's contributions are computed per variant (statistics summed in C as
 * double-doubles, as rollup.c) and added with the ingestion path's rollup_add: to this
 * daemon's slot, with the same TwoSum upserts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/ddouble.h"
#include "bunsen/util.h"
#include "pg_int.h"

#define I64(buf, v) (snprintf((buf), sizeof(buf), "%" PRId64, (int64_t)(v)), (const char *)(buf))

static int run(struct pg_conn *c, const char *sql, int n, const char *const *v, struct err *err)
{
    PGresult *r = pg_run(c, sql, n, v, NULL, 0, err);
    PQclear(r);
    return r ? 0 : -1;
}

static const char SQL_HAS[] = "SELECT 1 FROM rollup_rebuilds WHERE experiment = $1 FOR UPDATE";
static const char *const SQL_KEEP[] = {
    ("INSERT INTO metric_stats_frozen (experiment, metric, variant, slot, n, s, q, sx, qx, p, "
     "s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm) SELECT experiment, metric, variant, slot, n, s, q, "
     "sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm FROM metric_stats WHERE experiment = $1"),
    ("INSERT INTO metric_daily_frozen (experiment, metric, variant, day, slot, dn, ds, dq, "
     "ds_lo, dq_lo, hwm, dsx, dqx, dp, dsx_lo, dqx_lo, dp_lo, xsums) SELECT experiment, metric, "
     "variant, day, slot, dn, ds, dq, ds_lo, dq_lo, hwm, dsx, dqx, dp, dsx_lo, dqx_lo, dp_lo, "
     "xsums FROM metric_daily WHERE experiment = $1"),
    ("INSERT INTO exposure_stats_frozen (experiment, variant, slot, users, conflicts) "
     "SELECT experiment, variant, slot, users, conflicts FROM exposure_stats "
     "WHERE experiment = $1"),
    /* the slices of migration 0007 */
    ("INSERT INTO slice_stats_frozen (experiment, metric, dimension, value, variant, slot, n, "
     "s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm) SELECT experiment, metric, "
     "dimension, value, variant, slot, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm "
     "FROM slice_stats WHERE experiment = $1"),
    ("INSERT INTO slice_exposure_stats_frozen SELECT experiment, dimension, value, variant, "
     "slot, users FROM slice_exposure_stats WHERE experiment = $1"),
};
static const char *const SQL_EMPTY_LIVE[] = {
    "DELETE FROM metric_stats WHERE experiment = $1",
    "DELETE FROM metric_daily WHERE experiment = $1",
    "DELETE FROM exposure_stats WHERE experiment = $1",
    "DELETE FROM slice_stats WHERE experiment = $1",
    "DELETE FROM slice_exposure_stats WHERE experiment = $1",
};
static const char *const SQL_DROP_KEPT[] = {
    "DELETE FROM metric_stats_frozen WHERE experiment = $1",
    "DELETE FROM metric_daily_frozen WHERE experiment = $1",
    "DELETE FROM exposure_stats_frozen WHERE experiment = $1",
    "DELETE FROM slice_stats_frozen WHERE experiment = $1",
    "DELETE FROM slice_exposure_stats_frozen WHERE experiment = $1",
    "DELETE FROM ratio_kept WHERE experiment = $1",          /* migration 0009 */
    "DELETE FROM rebuild_metric_defs WHERE experiment = $1", /* migration 0011 */
    "DELETE FROM rollup_rebuilds WHERE experiment = $1",
};
static const char SQL_TOTAL[] =
    "SELECT COALESCE(SUM(users), 0) FROM exposure_stats_frozen WHERE experiment = $1";
static const char SQL_STATE_PUT[] =
    "INSERT INTO rollup_rebuilds AS r (experiment, cursor, users_done, users_total, "
    "generation, started_at, defs_unknown) VALUES ($1, '', 0, $2::bigint, 1, $3::bigint, 0) "
    "ON CONFLICT "
    "(experiment) DO UPDATE SET cursor = '', users_done = 0, users_total = $2::bigint, "
    "generation = r.generation + CASE WHEN r.cursor <> '' THEN 1 ELSE 0 END, "
    "started_at = $3::bigint";

int pg_rebuild_begin(struct store_tx *tx, const char *experiment, int64_t now, int64_t *users_total,
                     struct err *err)
{
    struct pg_conn *c = tx->conn;
    const char *v1[] = {experiment};
    PGresult *r = pg_run(c, SQL_HAS, 1, v1, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    bool running = PQntuples(r) > 0;
    PQclear(r);
    /* a restarted rebuild keeps the roll-ups kept by the first: the last complete ones */
    for (size_t i = 0; !running && i < sizeof(SQL_KEEP) / sizeof(SQL_KEEP[0]); i++) {
        if (run(c, SQL_KEEP[i], 1, v1, err) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof(SQL_EMPTY_LIVE) / sizeof(SQL_EMPTY_LIVE[0]); i++) {
        if (run(c, SQL_EMPTY_LIVE[i], 1, v1, err) != 0) {
            return -1;
        }
    }
    r = pg_run(c, SQL_TOTAL, 1, v1, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    *users_total = pg_i64(r, 0, 0);
    PQclear(r);
    char total[32], ts[32];
    const char *v3[] = {experiment, I64(total, *users_total), I64(ts, now)};
    return run(c, SQL_STATE_PUT, 3, v3, err);
}

#define STATE_COLS                                                                                 \
    "experiment, cursor, users_done, users_total, generation, started_at, ratios_kept"
static const char SQL_GET[] = "SELECT " STATE_COLS " FROM rollup_rebuilds WHERE experiment = $1";
/* inside a chunk's transaction: chunks of several daemons run one after the other */
static const char SQL_GET_LOCK[] =
    "SELECT " STATE_COLS " FROM rollup_rebuilds WHERE experiment = $1 FOR UPDATE";
static const char SQL_LIST[] = "SELECT " STATE_COLS " FROM rollup_rebuilds ORDER BY started_at, "
                               "experiment COLLATE \"C\"";

static void row_read(const PGresult *r, int i, struct store_rebuild *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->experiment, sizeof(out->experiment), "%s", PQgetvalue(r, i, 0));
    snprintf(out->cursor, sizeof(out->cursor), "%s", PQgetvalue(r, i, 1));
    out->users_done = pg_i64(r, i, 2);
    out->users_total = pg_i64(r, i, 3);
    out->generation = pg_i64(r, i, 4);
    out->started_at = pg_i64(r, i, 5);
    out->ratios_kept = pg_i64(r, i, 6) != 0;
}

/*
 * Chunks and ingestion on several daemons. A chunk lists the users after the cursor, locks
 * them and moves the cursor past the last; ingestion leaves a user after the cursor to the
 * chunks. Another daemon's transaction storing a new user's first exposure inside the
 * chunk's range, uncommitted while the chunk lists its users, would be left behind the
 * cursor and counted nowhere (the user locks cannot cover a user nobody has listed). So
 * every write transaction takes a lock per rebuilding experiment before any user lock:
 * shared for ingestion, exclusive for the experiment a chunk rebuilds (shared for the
 * others, whose cursors the group's ingestion reads); a chunk thus waits for every
 * ingesting transaction that read its cursor, and these wait for the chunk. One statement
 * takes them in key order, so two chunks of different experiments cannot deadlock.
 */
static const char SQL_REBUILD_LOCKS[] =
    "SELECT CASE WHEN own THEN pg_advisory_xact_lock(" PG_LOCK_REBUILD ", h) ELSE "
    "pg_advisory_xact_lock_shared(" PG_LOCK_REBUILD ", h) END FROM (SELECT hashtext(experiment) "
    "AS h, bool_or(experiment = $1) AS own FROM rollup_rebuilds GROUP BY 1 ORDER BY 1) s";

int pg_rebuild_lock(struct pg_conn *c, const char *experiment, struct err *err)
{
    const char *v[] = {experiment};
    c->rebuild_locks = true;
    return pg_defer(c, SQL_REBUILD_LOCKS, 1, v, NULL, 0, -1, err);
}

int pg_rebuild_get(struct store *s, struct store_tx *tx, const char *experiment,
                   struct store_rebuild *out, struct err *err)
{
    struct pg_conn *c = pg_read_conn(s, tx, err);
    if (c == NULL) {
        return -1;
    }
    /* a chunk (tx): this experiment's lock exclusively before its row and its users */
    if (tx != NULL && !c->rebuild_locks && pg_rebuild_lock(c, experiment, err) != 0) {
        pg_read_done(s, tx, c);
        return -1;
    }
    const char *v[] = {experiment};
    PGresult *r = pg_run(c, tx != NULL ? SQL_GET_LOCK : SQL_GET, 1, v, NULL, 0, err);
    pg_read_done(s, tx, c);
    if (r == NULL) {
        return -1;
    }
    int found = PQntuples(r) > 0;
    if (found) {
        row_read(r, 0, out);
    }
    PQclear(r);
    return found;
}

int pg_rebuild_list(struct store *s, void (*emit)(void *ctx, const struct store_rebuild *r),
                    void *ctx, struct err *err)
{
    PGresult *r = pg_read(s, NULL, SQL_LIST, 0, NULL, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_rebuild rb;
        row_read(r, i, &rb);
        emit(ctx, &rb);
    }
    PQclear(r);
    return 0;
}

/* the index exposures_experiment_user is on (experiment, user_id COLLATE "C") */
static const char SQL_USERS_AFTER[] =
    "SELECT user_id FROM exposures WHERE experiment = $1 AND user_id COLLATE \"C\" > $2 "
    "ORDER BY user_id COLLATE \"C\" LIMIT $3::bigint";

int pg_rebuild_users_after(struct store_tx *tx, const char *experiment, const char *after,
                           size_t limit, void (*emit)(void *ctx, const char *user_id), void *ctx,
                           struct err *err)
{
    char lim[32];
    const char *v[] = {experiment, after, I64(lim, limit)};
    return pg_emit_column0(pg_run(tx->conn, SQL_USERS_AFTER, 3, v, NULL, 0, err), emit, ctx);
}

/* ---- the range recompute ---- */

/*
 * A chunk's statements look its users up by key, one index probe per user, whatever the
 * statistics: the users travel as a text[] ($n, the list rebuild_users_after just read)
 * and each table is read in a LATERAL subquery by user_id (OFFSET 0 keeps it from being
 * flattened into a join and keeps the experiment's condition outside it, where no index
 * can take it instead of the user's). Written as a join on the range (after, last] of
 * exposures_experiment_user, a custom plan for an experiment newer than the statistics
 * guessed one row on each side and ran every user_metrics row of the experiment against
 * the whole range: a nested loop with a join filter, 12 s for a chunk of 500 users among
 * 20,000 (89 ms after an ANALYZE), while the chunk held PG_LOCK_REBUILD that every daemon's
 * writes wait for (docs/RELIABILITY.md AL, docs/PERFORMANCE.md "Rebuild chunks as index
 * probes"). The full forms (users NULL: rollup.c) read the whole experiment.
 */

/* Every per-user row of the users (they are exposed: user_metrics has rows only for exposed
 * users). A DML statement cannot be a LATERAL probe: the rows are found by probes and
 * deleted by ctid (a TID scan; the array's length is unknown to the planner).
 * $1 experiment $2 users */
static const char SQL_R_DEL_UM[] =
    "DELETE FROM user_metrics WHERE ctid = ANY(ARRAY(SELECT um.ctid FROM unnest($2::text[]) "
    "AS t(u) CROSS JOIN LATERAL (SELECT ctid FROM user_metrics um WHERE um.experiment = $1 "
    "AND um.user_id = t.u OFFSET 0) um))";
/* The users' exposures, a probe of exposures_pkey each: the experiment is tested outside */
#define PG_USERS_EXPOSED(n)                                                                        \
    "unnest($" n "::text[]) AS t(u) CROSS JOIN LATERAL (SELECT user_id, experiment, variant, "     \
    "ts, conflict_ts FROM exposures x WHERE x.user_id = t.u OFFSET 0) x"
/* $1 experiment $2 stop $3 users */
static const char SQL_R_EXPOSTAT[] =
    "SELECT x.variant, COUNT(*), COUNT(*) FILTER (WHERE x.conflict_ts < $2::bigint) "
    "FROM " PG_USERS_EXPOSED("3") " WHERE x.experiment = $1 AND x.ts < $2::bigint "
                                  "GROUP BY x.variant";
/* One rule's rows for store_rule_users: every user exposed before the stop with each of its
 * events of the rule's event in [t0 - lookback, window end) (or one row without an event),
 * over the whole experiment or the users $6.
 * $1 experiment $2 event $3 window $4 stop $5 lookback [$6 users] */
#define PG_RULE_EVENTS                                                                             \
    "e.event = $2 AND e.ts >= x.ts - $5::bigint AND e.ts < LEAST(x.ts + $3::bigint, $4::bigint)"
#define PG_RULE_ORDER " ORDER BY x.variant, x.ts, x.user_id"
static const char SQL_RULE_ALL[] =
    "SELECT x.user_id, x.variant, x.ts, e.ts, e.value FROM exposures x LEFT JOIN events e ON "
    "e.user_id = x.user_id AND " PG_RULE_EVENTS " WHERE x.experiment = $1 AND x.ts < "
    "$4::bigint" PG_RULE_ORDER;
static const char SQL_RULE_USERS[] =
    "SELECT x.user_id, x.variant, x.ts, e.ts, e.value FROM " PG_USERS_EXPOSED(
        "6") " LEFT "
             "JOIN LATERAL (SELECT ts, value FROM events e WHERE e.user_id = t.u "
             "AND " PG_RULE_EVENTS
             " OFFSET 0) e ON true WHERE x.experiment = $1 AND x.ts < $4::bigint" PG_RULE_ORDER;

int pg_rule_users(struct store_tx *tx, const char *experiment, const struct store_rule *r,
                  const char *users, struct store_rule_users *u, struct err *err)
{
    char win[32], stop[32], look[32];
    const char *v[] = {experiment,
                       r->event,
                       I64(win, r->window_ms > 0 ? r->window_ms : FAR_FUTURE),
                       I64(stop, r->stop_ts > 0 ? r->stop_ts : FAR_FUTURE),
                       I64(look, r->lookback_ms),
                       users};
    PGresult *res =
        pg_run(tx->conn, users ? SQL_RULE_USERS : SQL_RULE_ALL, users ? 6 : 5, v, NULL, 0, err);
    if (res == NULL) {
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        bool has_event = !PQgetisnull(res, i, 3);
        store_rule_users_add(u, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), pg_i64(res, i, 2),
                             has_event, has_event ? pg_i64(res, i, 3) : 0,
                             has_event ? pg_f64(res, i, 4) : 0);
    }
    PQclear(res);
    store_rule_users_end(u);
    return u->nrows > 0 ? pg_user_metrics_put(tx, u->rows, u->nrows, err) : 0;
}

/* The deltas of one range, with the strings they borrow. */
struct deltas {
    struct store_delta *d;
    size_t n, alloc;
    char **strs;
    size_t nstrs, astrs;
};

static const char *keep(struct deltas *ds, const char *s)
{
    if (ds->nstrs == ds->astrs) {
        ds->astrs = ds->astrs ? ds->astrs * 2 : 16;
        ds->strs = xrealloc(ds->strs, ds->astrs * sizeof(*ds->strs));
    }
    return ds->strs[ds->nstrs++] = xstrdup(s);
}

static struct store_delta *push(struct deltas *ds)
{
    if (ds->n == ds->alloc) {
        ds->alloc = ds->alloc ? ds->alloc * 2 : 16;
        ds->d = xrealloc(ds->d, ds->alloc * sizeof(*ds->d));
    }
    struct store_delta *d = &ds->d[ds->n++];
    memset(d, 0, sizeof(*d));
    return d;
}

static void deltas_free(struct deltas *ds)
{
    for (size_t i = 0; i < ds->nstrs; i++) {
        free(ds->strs[i]);
    }
    free(ds->strs);
    free(ds->d);
}

/* Append d[0..n), keeping copies of their variants. */
static void append(struct deltas *ds, const struct store_delta *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct store_delta *e = push(ds);
        *e = d[i];
        e->variant = keep(ds, d[i].variant);
    }
}

static int range_rule(struct store_tx *tx, struct deltas *ds, const char *experiment,
                      const struct store_rule *r, const char *users, struct err *err)
{
    struct store_rule_users u;
    store_rule_users_begin(&u, r);
    if (pg_rule_users(tx, experiment, r, users, &u, err) != 0) {
        store_rule_users_free(&u);
        return -1;
    }
    const char *metric = keep(ds, r->metric);
    struct store_delta *sd = store_variant_sums_deltas(&u.stats, experiment, metric);
    append(ds, sd, u.stats.n);
    free(sd);
    sd = store_daily_sums_deltas(&u.days, experiment, metric);
    append(ds, sd, u.days.n);
    free(sd);
    store_rule_users_free(&u);
    return 0;
}

int pg_rebuild_range(struct store_tx *tx, const char *experiment, int64_t stop_ts,
                     const struct store_rule *const *rules, size_t n, const char *after,
                     const char *last, const char *const *users, size_t nusers, struct err *err)
{
    (void)after; /* the users are (after, last] */
    (void)last;
    struct pg_conn *c = tx->conn;
    struct pg_text t = {0};
    pg_array_strv(&t, users, nusers);
    const char *v2[] = {experiment, t.p};
    if (run(c, SQL_R_DEL_UM, 2, v2, err) != 0) {
        pg_text_free(&t);
        return -1;
    }
    char stop[32];
    const char *v3[] = {experiment, I64(stop, stop_ts > 0 ? stop_ts : FAR_FUTURE), t.p};
    PGresult *res = pg_run(c, SQL_R_EXPOSTAT, 3, v3, NULL, 0, err);
    if (res == NULL) {
        pg_text_free(&t);
        return -1;
    }
    struct deltas ds = {0};
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_delta *d = push(&ds);
        d->kind = DELTA_EXPOSURE_STATS;
        d->experiment = experiment;
        d->variant = keep(&ds, PQgetvalue(res, i, 0));
        d->dn = pg_i64(res, i, 1);
        d->dconf = pg_i64(res, i, 2);
    }
    PQclear(res);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = range_rule(tx, &ds, experiment, rules[i], t.p, err);
    }
    if (rc == 0 && ds.n > 0) {
        rc = pg_rollup_add(tx, ds.d, ds.n, err);
    }
    deltas_free(&ds);
    /* after the users' rows: the slices (migration 0007) read them */
    if (rc == 0) {
        rc = pg_slices_range(tx, experiment, stop_ts, rules, n, t.p, err);
    }
    pg_text_free(&t);
    return rc;
}

static const char SQL_ADVANCE[] = "UPDATE rollup_rebuilds SET cursor = $2, users_done = "
                                  "users_done + $3::bigint WHERE experiment = $1";

int pg_rebuild_advance(struct store_tx *tx, const char *experiment, const char *last, int64_t users,
                       struct err *err)
{
    char u[32];
    const char *v[] = {experiment, last, I64(u, users)};
    return run(tx->conn, SQL_ADVANCE, 3, v, err);
}

int pg_rebuild_end(struct store_tx *tx, const char *experiment, struct err *err)
{
    const char *v[] = {experiment};
    for (size_t i = 0; i < sizeof(SQL_DROP_KEPT) / sizeof(SQL_DROP_KEPT[0]); i++) {
        if (run(tx->conn, SQL_DROP_KEPT[i], 1, v, err) != 0) {
            return -1;
        }
    }
    return 0;
}

const char PG_SQL_CURSORS[] = "SELECT experiment, cursor FROM rollup_rebuilds";

int pg_rebuild_cursors(struct store_tx *tx,
                       void (*emit)(void *ctx, const char *experiment, const char *cursor),
                       void *ctx, struct err *err)
{
    /* read with the first statement after pg_lock_users when that lock was deferred */
    PGresult *r = pg_prefetched(tx->conn, PG_SQL_CURSORS);
    if (r == NULL) {
        r = pg_run(tx->conn, PG_SQL_CURSORS, 0, NULL, NULL, 0, err);
    }
    if (r == NULL) {
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        emit(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    }
    PQclear(r);
    return 0;
}

/* ---- ratio metrics' kept sums (migrations/postgres/0009, store.h) ---- */

/* The row lock of the claim orders it with the chunks (SQL_GET_LOCK): a chunk that moved the
 * cursor first makes it match nothing (READ COMMITTED re-checks the updated row). */
static const char SQL_RATIOS_CLAIM[] =
    "UPDATE rollup_rebuilds SET ratios_kept = 1 WHERE experiment = $1 AND generation = "
    "$2::bigint AND cursor = '' AND ratios_kept = 0 RETURNING 1";
static const char SQL_RATIO_PUT[] =
    "INSERT INTO ratio_kept (experiment, metric, numerator, denominator, dimension, value, "
    "variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo) SELECT $1, t.* FROM "
    "unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::bigint[], $9::float8[], $10::float8[], $11::float8[], $12::float8[], $13::float8[], "
    "$14::float8[], $15::float8[], $16::float8[], $17::float8[], $18::float8[]) AS t";

int pg_rebuild_keep_ratios(struct store_tx *tx, const char *experiment, int64_t generation,
                           const struct store_ratio_sums *rows, size_t n, bool *kept,
                           struct err *err)
{
    /* the rebuild's lock before its row, as a chunk takes them (pg_rebuild_lock): a chunk of
     * another daemon then never waits for this row while holding the lock its group's
     * ingestion waits for */
    if (!((struct pg_conn *)tx->conn)->rebuild_locks &&
        pg_rebuild_lock(tx->conn, experiment, err) != 0) {
        return -1;
    }
    char g[32];
    const char *v2[] = {experiment, I64(g, generation)};
    PGresult *r = pg_run(tx->conn, SQL_RATIOS_CLAIM, 2, v2, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    bool claimed = PQntuples(r) == 1;
    PQclear(r);
    if (!claimed || n == 0) {
        *kept = claimed;
        return 0;
    }
    struct pg_text t[17] = {{0}};
    for (int k = 0; k < 17; k++) {
        pg_arr_begin(&t[k]);
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_ratio_sums *x = &rows[i];
        const char *text[] = {x->metric,    x->numerator, x->denominator,
                              x->dimension, x->value,     x->st.variant};
        for (int k = 0; k < 6; k++) {
            pg_arr_str(&t[k], text[k]);
        }
        pg_arr_i64(&t[6], x->st.n);
        const double f[] = {x->st.s,    x->st.q,    x->st.sx,    x->st.qx,    x->st.p,
                            x->st.s_lo, x->st.q_lo, x->st.sx_lo, x->st.qx_lo, x->st.p_lo};
        for (int k = 0; k < 10; k++) {
            pg_arr_f64(&t[7 + k], f[k]);
        }
    }
    const char *v[18] = {experiment};
    for (int k = 0; k < 17; k++) {
        v[k + 1] = pg_arr_end(&t[k]);
    }
    int rc = run(tx->conn, SQL_RATIO_PUT, 18, v, err);
    for (int k = 0; k < 17; k++) {
        pg_text_free(&t[k]);
    }
    *kept = rc == 0;
    return rc;
}

static const char SQL_RATIO_GET[] =
    "SELECT value, variant, n, s, q, sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo FROM ratio_kept "
    "WHERE experiment = $1 AND metric = $2 AND numerator = $3 AND denominator = $4 AND "
    "dimension = $5 ORDER BY value COLLATE \"C\", variant COLLATE \"C\"";

int pg_rebuild_ratio_read(struct store *s, const char *experiment, const char *metric,
                          const char *numerator, const char *denominator, const char *dimension,
                          void (*emit)(void *ctx, const char *value, const struct store_suff *st),
                          void *ctx, struct err *err)
{
    const char *v[] = {experiment, metric, numerator, denominator, dimension};
    PGresult *r = pg_read(s, NULL, SQL_RATIO_GET, 5, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    int found = PQntuples(r) > 0;
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_suff x;
        memset(&x, 0, sizeof(x));
        snprintf(x.variant, sizeof(x.variant), "%s", PQgetvalue(r, i, 1));
        if (x.variant[0] == '\0') {
            continue; /* the marker of a dimension kept */
        }
        x.n = pg_i64(r, i, 2);
        double *f[] = {&x.s,    &x.q,    &x.sx,    &x.qx,    &x.p,
                       &x.s_lo, &x.q_lo, &x.sx_lo, &x.qx_lo, &x.p_lo};
        for (int k = 0; k < 10; k++) {
            *f[k] = pg_f64(r, i, 3 + k);
        }
        emit(ctx, PQgetvalue(r, i, 0), &x);
    }
    PQclear(r);
    return found;
}

/* ---- the kept roll-ups' metric definitions (migration 0011, store_rebuild_keep_metric) ---- */

static const char SQL_DEF_KEEP[] =
    "INSERT INTO rebuild_metric_defs (experiment, metric, doc) SELECT $1::text, $2::text, "
    "$3::text WHERE EXISTS (SELECT 1 FROM rollup_rebuilds WHERE experiment = $1::text) "
    "ON CONFLICT (experiment, metric) DO NOTHING";
/* only while the rebuild runs; defs_unknown: migration 0013 (see the SQLite adapter's
 * rebuild.c) */
static const char SQL_DEF_GET[] =
    "SELECT r.defs_unknown, d.doc FROM rollup_rebuilds r LEFT JOIN rebuild_metric_defs d ON "
    "d.experiment = r.experiment AND d.metric = $2 WHERE r.experiment = $1";

int pg_rebuild_keep_metric(struct store_tx *tx, const char *experiment, const char *metric,
                           const char *doc, struct err *err)
{
    const char *v[] = {experiment, metric, doc};
    return run(tx->conn, SQL_DEF_KEEP, 3, v, err);
}

int pg_rebuild_metric_get(struct store *s, const char *experiment, const char *metric, char **doc,
                          struct err *err)
{
    const char *v[] = {experiment, metric};
    PGresult *r = pg_read(s, NULL, SQL_DEF_GET, 2, v, NULL, 0, err);
    if (r == NULL) {
        return -1;
    }
    int found = 0;
    if (PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 0), "0") != 0) {
        found = 2;
    } else if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 1)) {
        *doc = xstrdup(PQgetvalue(r, 0, 1));
        found = 1;
    }
    PQclear(r);
    return found;
}
