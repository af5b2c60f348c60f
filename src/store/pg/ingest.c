/*
 * ingest.c - the PostgreSQL adapter's batch primitives of attribution (store_int.h).
 * Each primitive is one or two statements whatever the batch size: the rows travel as
 * array parameters and come back with their ordinality, so a 10,000-event request costs a
 * handful of round trips.
 *
 * Lookups by a batch of keys are nested loops of index probes by construction: each is a
 * LATERAL subquery (LIMIT 1 for a unique key, OFFSET 0 otherwise, which keeps the planner
 * from flattening it into a join). Written as a plain join, a custom plan (the first five
 * runs of a prepared statement, or one after an ANALYZE) costs a hash join over the whole
 * table as cheaper than a thousand probes while the table has under a few hundred thousand
 * rows: 13.7 ms instead of 1.7 ms for the idempotency check of a 1,000-event request at
 * 120,000 events (docs/PERFORMANCE.md "Tenth pass"), and growing with the table.
 *
 * Several daemons: lock_users takes a transaction-scoped advisory lock per user, which
 * serializes every per-user read-modify-write of attribution across daemons: two first
 * exposures of one user, or an event and an exposure of one user, arriving on two daemons
 * end as one daemon would store them. A transaction waits for user locks in one statement
 * only, its first (the writer's for the whole group: writer.c lock_group), which takes
 * them ordered by lock key; later ones take only users no other transaction holds
 * (pg_try_advisory_xact_lock) and otherwise fail as retryable. So two daemons never wait
 * for each other's users in opposite orders: one group of a daemon used to lock its jobs'
 * users job after job, and a group of another daemon holding the same users in the other
 * order deadlocked with it until PostgreSQL's deadlock_timeout (1 s by default) ran out.
 *
 * PostgreSQL keeps those locks in one shared table of max_locks_per_transaction x
 * (max_connections + max_prepared_transactions) entries for the whole server: with the
 * defaults ~6,400, and past it every lock fails with "out of shared memory". A 10,000-event
 * request locks up to 10,000 users, and the writer groups requests. So a transaction locks
 * users one by one only within a budget (its daemon's share of that table, listen.c
 * pg_lock_budget, which the writer also keeps groups within: store_job.items), under the
 * all-users lock in shared mode; a job over the budget takes the all-users lock exclusively
 * instead (one lock: it then runs alone among the ingesting transactions of every daemon,
 * as a bulk load). The all-users lock comes before any user lock in every transaction, and
 * a transaction that holds it shared never asks for it exclusively (a job that would pass
 * the budget there fails as retryable and runs first in the next group), so the two modes
 * cannot deadlock. A definition change needs no user locks: it holds the catalogue lock
 * exclusively (db.c pg_tx_begin).
 *
 * Roll-up deltas go to the rows of this daemon's slot (db.c). Writer thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/util.h"
#include "pg_int.h"

/* Start the binary arrays b[0..n) with the element types oids[0..n). */
static void begin_bins(struct pg_bin *b, const unsigned *oids, int n)
{
    for (int i = 0; i < n; i++) {
        pg_bin_begin(&b[i], oids[i]);
    }
}

/* Run sql with the binary arrays b[0..n) as parameters (pg_bin_end'ed here). */
static PGresult *run_bins(struct store_tx *tx, const char *sql, struct pg_bin *b, int n,
                          struct err *err)
{
    const char *v[12];
    int len[12];
    for (int i = 0; i < n; i++) {
        v[i] = pg_bin_end(&b[i], &len[i]);
    }
    return pg_run(tx->conn, sql, n, v, len, (1u << n) - 1u, err);
}

/* run_bins for a write whose result is not needed: deferred (pg_defer). 0 or -1. */
static int defer_bins(struct store_tx *tx, const char *sql, struct pg_bin *b, int n,
                      long long expect, struct err *err)
{
    const char *v[12];
    int len[12];
    for (int i = 0; i < n; i++) {
        v[i] = pg_bin_end(&b[i], &len[i]);
    }
    return pg_defer(tx->conn, sql, n, v, len, (1u << n) - 1u, expect, err);
}

static void free_bins(struct pg_bin *b, int n)
{
    for (int i = 0; i < n; i++) {
        pg_bin_free(&b[i]);
    }
}

#define T PG_OID_TEXT
#define I PG_OID_INT8
#define F PG_OID_FLOAT8

/* Run sql with users[0..n) as its one parameter, a text[]. */
static PGresult *run_users(struct store_tx *tx, const char *sql, const char *const *users, size_t n,
                           struct err *err)
{
    struct pg_bin t = {0};
    pg_bin_begin(&t, T);
    for (size_t i = 0; i < n; i++) {
        pg_bin_str(&t, users[i]);
    }
    PGresult *r = run_bins(tx, sql, &t, 1, err);
    pg_bin_free(&t);
    return r;
}

/* After user locks: what was read before them is not read under them; attribution reads
 * the rebuild cursors next, which ride along with its next read (pg_rebuild_cursors takes
 * them), saving their round trip, when the locks were deferred. */
static void after_user_locks(struct pg_conn *c)
{
    pg_prefetch_clear(c);
    if (c->npending > 0) {
        pg_prefetch(c, PG_SQL_CURSORS, NULL, 0);
    }
}

int pg_lock_users(struct store_tx *tx, const char *const *users, size_t n, struct err *err)
{
    static const char SQL[] =
        "SELECT pg_advisory_xact_lock(" PG_LOCK_USER ", h) FROM (SELECT DISTINCT hashtext(u) AS h "
        "FROM unnest($1::text[]) u ORDER BY 1) s";
    static const char SQL_ALL_SHARED[] =
        "SELECT pg_advisory_xact_lock_shared(" PG_LOCK_ALL_USERS ", 0)";
    static const char SQL_ALL[] = "SELECT pg_advisory_xact_lock(" PG_LOCK_ALL_USERS ", 0)";
    /* the users whose lock another transaction holds */
    static const char SQL_TRY[] =
        "SELECT u FROM unnest($1::text[]) u WHERE NOT pg_try_advisory_xact_lock(" PG_LOCK_USER
        ", hashtext(u))";
    struct pg_conn *c = tx->conn;
    struct pg_store *p = pg_be(tx->store);
    if (c->user_locks == PG_ULOCK_ALL) {
        /* every user is this transaction's already; a read left from an earlier call (for
         * other users) must not answer this one's, as below */
        pg_prefetch_clear(c);
        return 0;
    }
    if (c->user_locks != PG_ULOCK_NONE) {
        /* The transaction holds user locks (the group's, writer.c): waiting now for one that
         * another transaction holds could close a cycle with it (it waits for ours). So
         * these are taken only where free (pg_defer_try: the refusal is found with the read
         * that follows, before the job writes anything), and the job otherwise runs again,
         * first in a later group, whose first statement waits for its users in order. */
        if (n > 0 && c->user_locks + n > p->user_lock_budget) {
            c->retry = true; /* the writer runs the job again, first in a later group */
            c->intact = true;
            return err_set(err, ERR_UNAVAILABLE, NULL,
                           "the transaction holds its budget of %zu user locks",
                           (size_t)p->user_lock_budget);
        }
        if (n > 0) {
            struct pg_bin t = {0};
            pg_bin_begin(&t, T);
            for (size_t i = 0; i < n; i++) {
                pg_bin_str(&t, users[i]);
            }
            int len = 0;
            const char *v = pg_bin_end(&t, &len);
            int rc = pg_defer_try(c, SQL_TRY, 1, &v, &len, 1u, err);
            pg_bin_free(&t);
            if (rc != 0) {
                return -1;
            }
            c->user_locks += n;
        }
        after_user_locks(c);
        return 0;
    }
    if (n == 0) {
        pg_prefetch_clear(c);
        return 0;
    }
    /* The transaction's first user locks: they may wait, in one global order (the all-users
     * lock, then each user's by its hash, in one statement). Before them the rebuilding
     * experiments' locks: no chunk of a rebuilding experiment runs until this transaction
     * ends, so the cursors it reads stay true (rebuild.c pg_rebuild_lock). */
    int rc = c->rebuild_locks ? 0 : pg_rebuild_lock(c, "", err);
    if (rc == 0 && n > p->user_lock_budget) {
        rc = pg_defer(c, SQL_ALL, 0, NULL, NULL, 0, -1, err);
        c->user_locks = PG_ULOCK_ALL;
        p->user_locks_all++;
    } else if (rc == 0) {
        rc = pg_defer(c, SQL_ALL_SHARED, 0, NULL, NULL, 0, -1, err);
        struct pg_bin t = {0};
        pg_bin_begin(&t, T);
        for (size_t i = 0; i < n; i++) {
            pg_bin_str(&t, users[i]);
        }
        if (rc == 0) {
            rc = defer_bins(tx, SQL, &t, 1, -1, err); /* granted before the next statement */
        }
        pg_bin_free(&t);
        c->user_locks = n;
    }
    if (rc != 0) {
        return -1;
    }
    after_user_locks(c);
    return 0;
}

struct idkey {
    const char *user, *id;
    size_t i;
};

static int idkey_cmp(const void *a, const void *b)
{
    const struct idkey *x = a, *y = b;
    int c = strcmp(x->user, y->user);
    if (c == 0) {
        c = strcmp(x->id, y->id);
    }
    return c != 0 ? c : (x->i > y->i) - (x->i < y->i);
}

/* inserted[i] = false for every event repeating the (user, id) of an earlier one. */
static size_t mark_repeats(const struct store_event *ev, size_t n, bool *inserted)
{
    struct idkey *k = xcalloc(n ? n : 1, sizeof(*k));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        inserted[i] = true;
        if (ev[i].id != NULL) {
            k[m++] = (struct idkey){.user = ev[i].user_id, .id = ev[i].id, .i = i};
        }
    }
    qsort(k, m, sizeof(*k), idkey_cmp);
    for (size_t j = 1; j < m; j++) {
        if (strcmp(k[j].user, k[j - 1].user) == 0 && strcmp(k[j].id, k[j - 1].id) == 0) {
            inserted[k[j].i] = false;
        }
    }
    free(k);
    return m;
}

int pg_events_insert(struct store_tx *tx, const struct store_event *events, size_t n,
                     bool *inserted, struct err *err)
{
    static const char SQL_SEEN[] =
        "SELECT t.i FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(u, id, i) "
        "CROSS JOIN LATERAL (SELECT 1 FROM events e WHERE e.user_id = t.u AND e.id = t.id "
        "LIMIT 1) e";
    static const char SQL_INSERT[] =
        "INSERT INTO events (user_id, event, ts, value, id) SELECT * FROM unnest($1::text[], "
        "$2::text[], $3::bigint[], $4::float8[], $5::text[])";
    struct pg_bin t[5] = {{0}};
    int rc = -1;
    size_t with_id = mark_repeats(events, n, inserted);
    if (with_id > 0) {
        begin_bins(t, (const unsigned[]){T, T, I}, 3);
        for (size_t i = 0; i < n; i++) {
            if (events[i].id == NULL || !inserted[i]) {
                continue;
            }
            pg_bin_str(&t[0], events[i].user_id);
            pg_bin_str(&t[1], events[i].id);
            pg_bin_i64(&t[2], (int64_t)i);
        }
        PGresult *r = run_bins(tx, SQL_SEEN, t, 3, err);
        if (r == NULL) {
            goto out;
        }
        for (int k = 0; k < PQntuples(r); k++) {
            inserted[pg_i64(r, k, 0)] = false;
        }
        PQclear(r);
    }
    begin_bins(t, (const unsigned[]){T, T, I, F, T}, 5);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!inserted[i]) {
            continue;
        }
        pg_bin_str(&t[0], events[i].user_id);
        pg_bin_str(&t[1], events[i].event);
        pg_bin_i64(&t[2], events[i].ts);
        pg_bin_f64(&t[3], events[i].value);
        pg_bin_str(&t[4], events[i].id);
        m++;
    }
    if (m > 0 && defer_bins(tx, SQL_INSERT, t, 5, -1, err) != 0) {
        goto out;
    }
    rc = 0;
out:
    free_bins(t, 5);
    return rc;
}

/* The users of a text[] that have at least one event: an index probe each (events_user). */
static const char SQL_HAS_EVENTS[] =
    "SELECT t.u FROM unnest($1::text[]) AS t(u) CROSS JOIN LATERAL (SELECT 1 FROM events e "
    "WHERE e.user_id = t.u LIMIT 1) e";

void pg_users_with_events_ahead(struct store_tx *tx, const char *const *users, size_t n)
{
    struct pg_conn *c = tx->conn;
    if (c->npending == 0) {
        return; /* the locks were not deferred: nothing to ride along with */
    }
    struct pg_bin t = {0};
    pg_bin_begin(&t, T);
    for (size_t i = 0; i < n; i++) {
        pg_bin_str(&t, users[i]);
    }
    int len = 0;
    const char *v = pg_bin_end(&t, &len);
    pg_prefetch(c, SQL_HAS_EVENTS, v, len);
    pg_bin_free(&t);
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int pg_users_with_events(struct store_tx *tx, const char *const *users, size_t n, bool *has,
                         struct err *err)
{
    (void)err;
    /* read with the exposures of this call, under its user locks (pg_users_with_events_ahead,
     * given every user of the call); without it, "maybe" for every user saves the round
     * trip: events_raw answers 0 for a user without events anyway */
    PGresult *r = pg_prefetched(tx->conn, SQL_HAS_EVENTS);
    if (r == NULL) {
        for (size_t i = 0; i < n; i++) {
            has[i] = true;
        }
        return 0;
    }
    int m = PQntuples(r);
    const char **with = xcalloc(m > 0 ? (size_t)m : 1, sizeof(*with));
    for (int k = 0; k < m; k++) {
        with[k] = PQgetvalue(r, k, 0);
    }
    qsort(with, (size_t)m, sizeof(*with), str_ptr_cmp);
    for (size_t i = 0; i < n; i++) {
        has[i] = m > 0 && bsearch(&users[i], with, (size_t)m, sizeof(*with), str_ptr_cmp) != NULL;
    }
    free(with);
    PQclear(r);
    return 0;
}

int pg_events_raw(struct store_tx *tx, const struct store_rawq *q, size_t n, int64_t *count,
                  struct exactsum_parts *sum, struct err *err)
{
    /* the values themselves, summed here exactly (exactsum.h): PostgreSQL has no exact sum of
     * float8 (sum() adds doubles; float8::numeric keeps 15 digits, so 0.30000000000000004
     * becomes 0.3), and the values as text read back exactly (extra_float_digits = 3) */
    static const char SQL[] =
        "SELECT t.i - 1, x.value FROM unnest($1::text[], $2::text[], $3::bigint[], "
        "$4::bigint[]) WITH ORDINALITY AS t(u, ev, f, tt, i) CROSS JOIN LATERAL "
        "(SELECT e.value FROM events e WHERE e.user_id = t.u AND e.event = t.ev AND "
        "e.ts >= t.f AND e.ts < t.tt) x ORDER BY t.i";
    struct pg_bin t[4] = {{0}};
    begin_bins(t, (const unsigned[]){T, T, I, I}, 4);
    for (size_t i = 0; i < n; i++) {
        pg_bin_str(&t[0], q[i].user_id);
        pg_bin_str(&t[1], q[i].event);
        pg_bin_i64(&t[2], q[i].from);
        pg_bin_i64(&t[3], q[i].to);
    }
    PGresult *r = run_bins(tx, SQL, t, 4, err);
    free_bins(t, 4);
    if (r == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        count[i] = 0;
        sum[i] = (struct exactsum_parts){{0, 0, 0}};
    }
    struct exactsum acc;
    int rows = PQntuples(r);
    for (int k = 0; k < rows;) {
        /* the rows of query i follow each other */
        int64_t i = pg_i64(r, k, 0);
        exactsum_init(&acc);
        for (; k < rows && pg_i64(r, k, 0) == i; k++) {
            exactsum_add(&acc, pg_f64(r, k, 1));
            count[i]++;
        }
        sum[i] = exactsum_parts(&acc);
    }
    PQclear(r);
    return 0;
}

int pg_exposures_of_users(struct store_tx *tx, const char *const *users, size_t n,
                          void (*emit)(void *ctx, size_t i, const char *experiment,
                                       const char *variant, int64_t ts),
                          void *ctx, struct err *err)
{
    static const char SQL[] =
        "SELECT t.i - 1, x.experiment, x.variant, x.ts FROM unnest($1::text[]) WITH ORDINALITY "
        "AS t(u, i) CROSS JOIN LATERAL (SELECT experiment, variant, ts FROM exposures x "
        "WHERE x.user_id = t.u OFFSET 0) x ORDER BY t.i, x.experiment COLLATE \"C\"";
    PGresult *r = run_users(tx, SQL, users, n, err);
    if (r == NULL) {
        return -1;
    }
    for (int k = 0; k < PQntuples(r); k++) {
        emit(ctx, (size_t)pg_i64(r, k, 0), PQgetvalue(r, k, 1), PQgetvalue(r, k, 2),
             pg_i64(r, k, 3));
    }
    PQclear(r);
    return 0;
}

int pg_exposures_get(struct store_tx *tx, const struct store_xrow *keys, size_t n,
                     void (*emit)(void *ctx, size_t i, const char *variant, int64_t ts,
                                  int64_t conflict_ts),
                     void *ctx, struct err *err)
{
    static const char SQL[] =
        "SELECT t.i - 1, x.variant, x.ts, x.conflict_ts FROM unnest($1::text[], $2::text[]) "
        "WITH ORDINALITY AS t(u, e, i) CROSS JOIN LATERAL (SELECT variant, ts, conflict_ts "
        "FROM exposures x WHERE x.user_id = t.u AND x.experiment = t.e LIMIT 1) x";
    struct pg_bin t[2] = {{0}};
    begin_bins(t, (const unsigned[]){T, T}, 2);
    for (size_t i = 0; i < n; i++) {
        pg_bin_str(&t[0], keys[i].user_id);
        pg_bin_str(&t[1], keys[i].experiment);
    }
    PGresult *r = run_bins(tx, SQL, t, 2, err);
    free_bins(t, 2);
    if (r == NULL) {
        return -1;
    }
    for (int k = 0; k < PQntuples(r); k++) {
        emit(ctx, (size_t)pg_i64(r, k, 0), PQgetvalue(r, k, 1), pg_i64(r, k, 2),
             PQgetisnull(r, k, 3) ? STORE_NO_CONFLICT : pg_i64(r, k, 3));
    }
    PQclear(r);
    return 0;
}

int pg_exposures_put(struct store_tx *tx, const struct store_xrow *rows, size_t n, struct err *err)
{
    /* conflict_ts travels as STORE_NO_CONFLICT (INT64_MAX) for NULL */
    static const char SQL_INSERT[] =
        "INSERT INTO exposures (user_id, experiment, variant, ts, conflicts, conflict_ts) "
        "SELECT u, e, v, ts, c, NULLIF(k, 9223372036854775807) FROM unnest($1::text[], "
        "$2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) "
        "AS t(u, e, v, ts, c, k)";
    static const char SQL_UPDATE[] =
        "UPDATE exposures x SET variant = t.v, ts = t.ts, conflicts = x.conflicts + t.c, "
        "conflict_ts = NULLIF(t.k, 9223372036854775807) FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) AS t(u, e, v, ts, c, k) "
        "WHERE x.user_id = t.u AND x.experiment = t.e";
    for (int pass = 0; pass < 2; pass++) {
        bool want_new = pass == 0;
        struct pg_bin t[6] = {{0}};
        begin_bins(t, (const unsigned[]){T, T, T, I, I, I}, 6);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (rows[i].is_new != want_new) {
                continue;
            }
            pg_bin_str(&t[0], rows[i].user_id);
            pg_bin_str(&t[1], rows[i].experiment);
            pg_bin_str(&t[2], rows[i].variant);
            pg_bin_i64(&t[3], rows[i].ts);
            pg_bin_i64(&t[4], rows[i].conflicts_add);
            pg_bin_i64(&t[5], rows[i].conflict_ts);
            m++;
        }
        int rc = m > 0 ? defer_bins(tx, want_new ? SQL_INSERT : SQL_UPDATE, t, 6, -1, err) : 0;
        free_bins(t, 6);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* A ctid "(block,offset)" as one integer (block << 16 | offset), and back. */
static int64_t ctid_pack(const char *s)
{
    unsigned long long block = 0, offset = 0;
    if (sscanf(s, "(%llu,%llu)", &block, &offset) != 2) {
        return 0;
    }
    return (int64_t)(block << 16 | (offset & 0xffff));
}

static void bin_ctid(struct pg_bin *b, int64_t loc)
{
    pg_bin_tid(b, (uint32_t)((uint64_t)loc >> 16), (uint16_t)((uint64_t)loc & 0xffff));
}

int pg_user_metrics_get(struct store_tx *tx, const struct store_umrow *keys, size_t n,
                        void (*emit)(void *ctx, size_t i, const struct exactsum_parts *y,
                                     const struct exactsum_parts *x, int64_t loc),
                        void *ctx, struct err *err)
{
    /* the ctid too: the row's update finds it without an index search (user_metrics_put) */
    static const char SQL[] =
        "SELECT t.i - 1, um.y_raw, um.y_lo, um.y_lo2, um.x_raw, um.x_lo, um.x_lo2, um.ctid "
        "FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(u, e, k, i) "
        "CROSS JOIN LATERAL (SELECT y_raw, y_lo, y_lo2, x_raw, x_lo, x_lo2, ctid FROM "
        "user_metrics um WHERE um.user_id = t.u AND um.experiment = t.e AND um.metric = t.k "
        "LIMIT 1) um";
    struct pg_bin t[3] = {{0}};
    begin_bins(t, (const unsigned[]){T, T, T}, 3);
    for (size_t i = 0; i < n; i++) {
        pg_bin_str(&t[0], keys[i].user_id);
        pg_bin_str(&t[1], keys[i].experiment);
        pg_bin_str(&t[2], keys[i].metric);
    }
    PGresult *r = run_bins(tx, SQL, t, 3, err);
    free_bins(t, 3);
    if (r == NULL) {
        return -1;
    }
    for (int k = 0; k < PQntuples(r); k++) {
        struct exactsum_parts y, x;
        for (int j = 0; j < EXACTSUM_PARTS; j++) {
            y.p[j] = pg_f64(r, k, 1 + j);
            x.p[j] = pg_f64(r, k, 1 + EXACTSUM_PARTS + j);
        }
        emit(ctx, (size_t)pg_i64(r, k, 0), &y, &x, ctid_pack(PQgetvalue(r, k, 7)));
    }
    PQclear(r);
    return 0;
}

int pg_user_metrics_put(struct store_tx *tx, const struct store_umrow *rows, size_t n,
                        struct err *err)
{
    /* Three plain statements instead of one UPSERT: the caller knows which rows exist and
     * where (store_int.h: read under the user's lock, which every writer of user_metrics
     * holds or excludes), so a stored row is updated through its ctid (a TID scan, no index
     * search) and a new one inserted without the conflict pre-check and speculative
     * insertion that INSERT ... ON CONFLICT pays per row. Measured on 1,000-row batches:
     * updates 8.5 -> 4.1 ms, inserts 4.5 -> 3.2 ms (docs/PERFORMANCE.md). A stored row that
     * is not where it was read (which the locks rule out) fails the request: never a lost
     * or doubled update. */
#define UM_ARRAYS                                                                                  \
    "unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[], "        \
    "$7::float8[], $8::float8[], $9::float8[]"
    /* the low parts of a raw value (exactsum.h) are nearly always 0, stored as NULL (a bit of
     * the row's null bitmap, where a float8 takes 8 bytes; migration 0014) */
    static const char SQL_INSERT[] =
        "INSERT INTO user_metrics (user_id, experiment, metric, y_raw, y_lo, y_lo2, x_raw, x_lo, "
        "x_lo2) SELECT u, e, k, y, NULLIF(y1, 0), NULLIF(y2, 0), x, NULLIF(x1, 0), "
        "NULLIF(x2, 0) FROM " UM_ARRAYS ") AS t(u, e, k, y, y1, y2, x, x1, x2)";
    static const char SQL_UPDATE[] =
        "UPDATE user_metrics um SET y_raw = t.y, y_lo = NULLIF(t.y1, 0), y_lo2 = NULLIF(t.y2, 0), "
        "x_raw = t.x, x_lo = NULLIF(t.x1, 0), x_lo2 = NULLIF(t.x2, 0) FROM " UM_ARRAYS
        ", $10::tid[]) AS t(u, e, k, y, y1, y2, x, x1, x2, c) WHERE um.ctid = t.c AND "
        "um.user_id = t.u AND um.experiment = t.e AND um.metric = t.k";
    static const char SQL_DEL[] =
        "DELETE FROM user_metrics um USING " UM_ARRAYS ", $10::tid[]) AS t(u, e, k, y, y1, y2, "
        "x, x1, x2, c) WHERE um.ctid = t.c AND um.user_id = t.u AND um.experiment = t.e AND "
        "um.metric = t.k";
#undef UM_ARRAYS
    enum { INSERT, UPDATE, DELETE };
    static const char *const sql[] = {SQL_INSERT, SQL_UPDATE, SQL_DEL};
    for (int pass = INSERT; pass <= DELETE; pass++) {
        struct pg_bin t[10] = {{0}};
        begin_bins(t, (const unsigned[]){T, T, T, F, F, F, F, F, F, PG_OID_TID}, 10);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const struct store_umrow *u = &rows[i];
            int kind = u->present ? (u->stored ? UPDATE : INSERT) : u->stored ? DELETE : -1;
            if (kind != pass) {
                continue;
            }
            pg_bin_str(&t[0], u->user_id);
            pg_bin_str(&t[1], u->experiment);
            pg_bin_str(&t[2], u->metric);
            for (int k = 0; k < EXACTSUM_PARTS; k++) {
                pg_bin_f64(&t[3 + k], u->y.p[k]);
                pg_bin_f64(&t[6 + k], u->x.p[k]);
            }
            bin_ctid(&t[9], u->loc);
            m++;
        }
        /* an update or delete that misses a row fails the request (pg_defer's expect) */
        int rc = m > 0 ? defer_bins(tx, sql[pass], t, pass == INSERT ? 9 : 10,
                                    pass == INSERT ? -1 : (long long)m, err)
                       : 0;
        free_bins(t, 10);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

#undef T
#undef I
#undef F

/* c = m.c + EXCLUDED.c with lo taking the rounding error (TwoSum) and EXCLUDED.lo */
#define PG_DD(c, lo)                                                                               \
    c " = m." c " + EXCLUDED." c ", " lo " = m." lo " + EXCLUDED." lo " + ((m." c " - ((m." c      \
      " + EXCLUDED." c ") - ((m." c " + EXCLUDED." c ") - m." c "))) + (EXCLUDED." c " - ((m." c   \
      " + EXCLUDED." c ") - m." c ")))"

int pg_rollup_add(struct store_tx *tx, const struct store_delta *d, size_t n, struct err *err)
{
    /* the three roll-ups in one statement (data-modifying CTEs): one round trip per request;
     * $1-$14 and $29 metric_stats, $15-$23, $30 and $31-$36 (the covariate sums, migration
     * 0016) metric_daily, $24-$25 and $27-$28
     * exposure_stats, $26 the slot. Sums are double-doubles: the stored value plus the
     * delta's hi, whose rounding error (TwoSum, as the SQLite adapter) and the delta's lo go
     * to the *_lo column; hwm the largest of the row's, the delta's and the new sums'
     * magnitudes (migration 0015). */
    static const char SQL[] =
        "WITH st AS (INSERT INTO metric_stats AS m (experiment, metric, variant, slot, n, s, q, "
        "sx, qx, p, s_lo, q_lo, sx_lo, qx_lo, p_lo, hwm) SELECT t.e, t.k, t.v, $26::int, t.n, "
        "t.s, t.q, t.sx, t.qx, t.p, t.sl, t.ql, t.sxl, t.qxl, t.pl, t.h FROM unnest($1::text[], "
        "$2::text[], $3::text[], $4::bigint[], $5::float8[], $6::float8[], $7::float8[], "
        "$8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[], "
        "$13::float8[], $14::float8[], $29::float8[]) AS t(e, k, v, n, s, q, sx, qx, p, sl, ql, "
        "sxl, qxl, pl, h) ON CONFLICT (experiment, metric, variant, slot) DO UPDATE SET "
        "hwm = GREATEST(m.hwm, EXCLUDED.hwm, abs(m.q + EXCLUDED.q), abs(m.qx + EXCLUDED.qx), "
        "abs(m.p + EXCLUDED.p)), "
        "n = m.n + EXCLUDED.n, s = m.s + EXCLUDED.s, s_lo = m.s_lo + EXCLUDED.s_lo + ((m.s - "
        "((m.s + EXCLUDED.s) - ((m.s + EXCLUDED.s) - m.s))) + (EXCLUDED.s - ((m.s + EXCLUDED."
        "s) - m.s))), q = m.q + EXCLUDED.q, q_lo = m.q_lo + EXCLUDED.q_lo + ((m.q - ((m.q + E"
        "XCLUDED.q) - ((m.q + EXCLUDED.q) - m.q))) + (EXCLUDED.q - ((m.q + EXCLUDED.q) - m.q)"
        ")), sx = m.sx + EXCLUDED.sx, sx_lo = m.sx_lo + EXCLUDED.sx_lo + ((m.sx - ((m.sx + EX"
        "CLUDED.sx) - ((m.sx + EXCLUDED.sx) - m.sx))) + (EXCLUDED.sx - ((m.sx + EXCLUDED.sx) "
        "- m.sx))), qx = m.qx + EXCLUDED.qx, qx_lo = m.qx_lo + EXCLUDED.qx_lo + ((m.qx - ((m."
        "qx + EXCLUDED.qx) - ((m.qx + EXCLUDED.qx) - m.qx))) + (EXCLUDED.qx - ((m.qx + EXCLUD"
        "ED.qx) - m.qx))), p = m.p + EXCLUDED.p, p_lo = m.p_lo + EXCLUDED.p_lo + ((m.p - ((m."
        "p + EXCLUDED.p) - ((m.p + EXCLUDED.p) - m.p))) + (EXCLUDED.p - ((m.p + EXCLUDED.p) -"
        " m.p)))), "
        "dy AS (INSERT INTO metric_daily AS m (experiment, metric, variant, day, slot, dn, ds, "
        "dq, ds_lo, dq_lo, hwm, dsx, dqx, dp, dsx_lo, dqx_lo, dp_lo, xsums) SELECT t.e, t.k, "
        "t.v, t.d, $26::int, t.n, t.s, t.q, t.sl, t.ql, t.h, t.sx, t.qx, t.p, t.sxl, t.qxl, "
        "t.pl, 1 FROM unnest($15::text[], $16::text[], $17::text[], $18::bigint[], "
        "$19::bigint[], $20::float8[], $21::float8[], $22::float8[], $23::float8[], "
        "$30::float8[], $31::float8[], $32::float8[], $33::float8[], $34::float8[], "
        "$35::float8[], $36::float8[]) AS t(e, k, v, d, n, s, q, sl, ql, h, sx, qx, p, sxl, qxl, "
        "pl) ON CONFLICT (experiment, metric, variant, day, slot) DO UPDATE SET hwm = "
        "GREATEST(m.hwm, EXCLUDED.hwm, abs(m.dq + EXCLUDED.dq), abs(m.dqx + EXCLUDED.dqx), "
        "abs(m.dp + EXCLUDED.dp)), dn = m.dn + EXCLUDED.dn, " PG_DD("ds", "ds_lo") ", " PG_DD(
            "dq",
            "dq_lo") ", " PG_DD("dsx",
                                "dsx_lo") ", " PG_DD("dqx",
                                                     "dqx_lo") ", " PG_DD("dp",
                                                                          "dp_lo") ") "
                                                                                   "INSERT INTO "
                                                                                   "exposure_stats "
                                                                                   "AS m "
                                                                                   "(experiment, "
                                                                                   "variant, slot, "
                                                                                   "users, "
                                                                                   "conflicts) "
                                                                                   "SELECT t.e, "
                                                                                   "t.v, $26::int, "
                                                                                   "t.n, t.c FROM "
                                                                                   "unnest($24::"
                                                                                   "text[], "
                                                                                   "$25::text[], "
                                                                                   "$27::bigint[], "
                                                                                   "$28::bigint[]) "
                                                                                   "AS t(e, v, n, "
                                                                                   "c) ON CONFLICT "
                                                                                   "(experiment, "
                                                                                   "variant, slot) "
                                                                                   "DO UPDATE SET "
                                                                                   "users = "
                                                                                   "m.users + "
                                                                                   "EXCLUDED.users,"
                                                                                   " "
                                                                                   "conflicts = "
                                                                                   "m.conflicts + "
                                                                                   "EXCLUDED."
                                                                                   "conflicts";
    struct pg_text t[35] = {{0}};
    for (int k = 0; k < 35; k++) {
        pg_arr_begin(&t[k]);
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_delta *e = &d[i];
        if (e->kind == DELTA_METRIC_STATS) {
            pg_arr_str(&t[0], e->experiment);
            pg_arr_str(&t[1], e->metric);
            pg_arr_str(&t[2], e->variant);
            pg_arr_i64(&t[3], e->dn);
            const double x[] = {e->ds,    e->dq,    e->dsx,    e->dqx,    e->dp,
                                e->ds_lo, e->dq_lo, e->dsx_lo, e->dqx_lo, e->dp_lo};
            for (int k = 0; k < 10; k++) {
                pg_arr_f64(&t[4 + k], x[k]);
            }
            pg_arr_f64(&t[27], e->hwm);
        } else if (e->kind == DELTA_METRIC_DAILY) {
            pg_arr_str(&t[14], e->experiment);
            pg_arr_str(&t[15], e->metric);
            pg_arr_str(&t[16], e->variant);
            pg_arr_i64(&t[17], e->day);
            pg_arr_i64(&t[18], e->dn);
            pg_arr_f64(&t[19], e->ds);
            pg_arr_f64(&t[20], e->dq);
            pg_arr_f64(&t[21], e->ds_lo);
            pg_arr_f64(&t[22], e->dq_lo);
            pg_arr_f64(&t[28], e->hwm);
            const double x[] = {e->dsx, e->dqx, e->dp, e->dsx_lo, e->dqx_lo, e->dp_lo};
            for (int k = 0; k < 6; k++) {
                pg_arr_f64(&t[29 + k], x[k]);
            }
        } else {
            pg_arr_str(&t[23], e->experiment);
            pg_arr_str(&t[24], e->variant);
            pg_arr_i64(&t[25], e->dn);
            pg_arr_i64(&t[26], e->dconf);
        }
    }
    const char *v[36];
    for (int k = 0; k < 25; k++) {
        v[k] = pg_arr_end(&t[k]);
    }
    char slot[16];
    snprintf(slot, sizeof(slot), "%d", pg_be(tx->store)->slot);
    v[25] = slot;
    v[26] = pg_arr_end(&t[25]);
    v[27] = pg_arr_end(&t[26]);
    v[28] = pg_arr_end(&t[27]);
    for (int k = 28; k < 35; k++) {
        v[k + 1] = pg_arr_end(&t[k]);
    }
    int rc = pg_defer(tx->conn, SQL, 36, v, NULL, 0, -1, err);
    for (int k = 0; k < 35; k++) {
        pg_text_free(&t[k]);
    }
    return rc;
}
