/* Store unit tests: ingestion. The rules' indexes, late exposures ignored after a stop,
 * events inserted in multi-row chunks (idempotency ids), a first exposure moved earlier
 * read once, raw values as exact sums on every path, the known-first-exposure cache.
 *
 * Both backends (store_fixture.h): a fresh SQLite file per test by default, a fresh PostgreSQL
 * database when BUNSEN_TEST_DATABASE names a server (tests/pg/api.sh). */
#include "store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/exactsum.h"
#include "bunsen/store.h"

/* store_rules_new indexes rules given in (experiment, metric) order in linear time (a
 * reload's order) and any other order with two sorts: both give the same indexes, by
 * (event, experiment, metric) and by (experiment, metric), and the same lookups. */
static void test_rules_index(void **state)
{
    (void)state;
    enum { NX = 60, NM = 5 };
    static const char *const events[] = {"view", "buy", "b", "buy2", "", "click", "a"};
    struct store_rule *in_order = calloc(NX * NM, sizeof(*in_order));
    size_t n = 0;
    unsigned seed = 7;
    for (int x = 0; x < NX; x++) {
        int nm = 1 + (int)((unsigned)rand_r(&seed) % NM);
        for (int m = 0; m < nm; m++) {
            struct store_rule *r = &in_order[n++];
            snprintf(r->experiment, sizeof(r->experiment), "x%03d", x);
            snprintf(r->metric, sizeof(r->metric), "m%d", m);
            snprintf(r->event, sizeof(r->event), "%s",
                     events[(unsigned)rand_r(&seed) % (sizeof(events) / sizeof(events[0]))]);
            r->start_ts = x * 100 + m; /* tells the rules apart */
        }
    }
    struct store_rule *shuffled = malloc(n * sizeof(*shuffled));
    memcpy(shuffled, in_order, n * sizeof(*shuffled));
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rand_r(&seed) % (i + 1);
        struct store_rule t = shuffled[i];
        shuffled[i] = shuffled[j];
        shuffled[j] = t;
    }
    struct store_rules *a = store_rules_new(in_order, n); /* linear */
    struct store_rules *b = store_rules_new(shuffled, n); /* sorted */
    assert_int_equal(a->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(a->by_event[i].start_ts, b->by_event[i].start_ts);
        assert_int_equal(a->by_exp[i]->start_ts, b->by_exp[i]->start_ts);
        if (i > 0) {
            const struct store_rule *p = &a->by_event[i - 1], *q = &a->by_event[i];
            int c = strcmp(p->event, q->event);
            if (c == 0) {
                c = strcmp(p->experiment, q->experiment);
            }
            if (c == 0) {
                c = strcmp(p->metric, q->metric);
            }
            assert_true(c < 0);
        }
    }
    for (int x = 0; x < NX; x++) {
        char key[16];
        snprintf(key, sizeof(key), "x%03d", x);
        size_t na = 0, nb = 0;
        const struct store_rule *const *ra = store_rules_for_experiment(a, key, &na);
        const struct store_rule *const *rb = store_rules_for_experiment(b, key, &nb);
        assert_true(na >= 1);
        assert_int_equal(na, nb);
        for (size_t k = 0; k < na; k++) {
            assert_int_equal(ra[k]->start_ts, rb[k]->start_ts);
            assert_string_equal(ra[k]->experiment, key);
        }
    }
    store_rules_free(a);
    store_rules_free(b);
    /* one rule, none */
    struct store_rule *one = calloc(1, sizeof(*one));
    snprintf(one->experiment, sizeof(one->experiment), "solo");
    struct store_rules *c = store_rules_new(one, 1);
    size_t nc = 0;
    assert_non_null(store_rules_for_experiment(c, "solo", &nc));
    assert_int_equal(nc, 1);
    store_rules_free(c);
    store_rules_free(store_rules_new(NULL, 0));
}

/* Exposures at or after their experiment's stop, in the rules the writer holds, are ignored
 * (those of a request that saw the experiment running and reached the writer after the stop,
 * on this daemon or through another): with metrics or without. */
static int late_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct store_ingest_counts *c = arg;
    struct store_rule *rl = one_rule("withm", "m", "buy", RULE_COUNT);
    rl->stop_ts = 5000;
    struct store_rules *rules = store_rules_new(rl, 1);
    struct store_stop *stops = calloc(2, sizeof(*stops));
    snprintf(stops[0].experiment, sizeof(stops[0].experiment), "withm");
    stops[0].stop_ts = 5000;
    snprintf(stops[1].experiment, sizeof(stops[1].experiment), "nom");
    stops[1].stop_ts = 7000;
    store_rules_set_stops(rules, stops, 2);
    assert_int_equal(store_rules_stopped_at(rules, "nom"), 7000);
    assert_int_equal(store_rules_stopped_at(rules, "running"), 0);
    const struct store_exposure xs[] = {
        {"withm", "u1", "a", 5000, NULL}, /* at the stop */
        {"nom", "u1", "a", 9000, NULL},   /* after it, no metrics */
        {"running", "u1", "a", 9000, NULL},
        {"nom", "u2", "b", 6999, NULL}, /* before it */
    };
    int rc = store_ingest_exposures(tx, rules, xs, 4, &c[0], err);
    /* u1's exposures were not stored: one before the stop is its first */
    const struct store_exposure again[] = {{"withm", "u1", "b", 4000, NULL},
                                           {"nom", "u1", "b", 6000, NULL}};
    if (rc == 0) {
        rc = store_ingest_exposures(tx, rules, again, 2, &c[1], err);
    }
    store_rules_free(rules);
    return rc;
}

static void test_late_exposures_ignored(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    struct store_ingest_counts c[2] = {{0}};
    assert_int_equal(store_write_sync(s, late_apply, c, &err), 0);
    assert_int_equal(c[0].ignored, 2);
    assert_int_equal(c[0].accepted, 2);
    assert_int_equal(c[1].accepted, 2);
    assert_int_equal(c[1].conflicts, 0);
    store_close(s);
}

/* ---- events in multi-row chunks: which rows an idempotency id kept out ---- */

#define IX_USERS 4

static void ix_read(void *ctx, const struct store_suff *st)
{
    *(struct store_suff *)ctx = *st;
}

/* The SQLite adapter inserts events 64, 16, 4 and 1 rows per statement and tells the rows
 * that an id kept out from the rowids (ingest.c): batches that cross every chunk size,
 * with ids repeated from stored rows, from earlier rows of the same chunk and of an earlier
 * chunk, and rows without an id; accepted, duplicates and the attributed sums must be those
 * of a row-at-a-time model (values are distinct, so a wrong row shows in S and Q). */
static void test_events_insert_chunks(void **state)
{
    (void)state;
    struct store *s = open_writing(1000);
    struct err err;
    struct store_rules *rules = sl_rules(0);
    char users[IX_USERS][16];
    struct store_exposure xs[IX_USERS];
    int64_t t0 = 1700000000000LL;
    for (int u = 0; u < IX_USERS; u++) {
        snprintf(users[u], sizeof(users[u]), "ix%d", u);
        xs[u] = (struct store_exposure){"sx", users[u], "a", t0, NULL};
    }
    struct sl_batch xb = {.rules = rules, .x = xs, .nx = IX_USERS};
    assert_int_equal(store_write_sync(s, sl_apply, &xb, &err), 0);

    enum { N1 = 70, N2 = 150, N3 = 3 };
    static char ids[N1 + N2 + N3][16];
    struct store_event ev[N1 + N2 + N3];
    /* model: (user, id) pairs stored so far, and each user's sum of accepted values */
    static char seen[N1 + N2 + N3][24];
    size_t nseen = 0;
    double y[IX_USERS] = {0};
    for (int i = 0; i < N1 + N2 + N3; i++) {
        int u = i % IX_USERS;
        const char *id = ids[i];
        if (i < N1) {
            snprintf(ids[i], sizeof(ids[i]), "p%d", i);
        } else if (i >= N1 + N2) {
            int j = N1 + (i - N1 - N2) * 5; /* a third batch: all three are repeats */
            u = ev[j].user_id[2] - '0';
            memcpy(ids[i], ids[j], sizeof(ids[i]));
            id = ev[j].id != NULL ? ids[i] : NULL;
        } else if (i % 11 == 0) {
            id = NULL;
        } else if (i % 5 == 0) {
            int j = (i * 3) % N1; /* stored by the first batch */
            u = j % IX_USERS;
            snprintf(ids[i], sizeof(ids[i]), "p%d", j);
        } else if (i % 7 == 0 && ev[i - 3].id != NULL) {
            u = ev[i - 3].user_id[2] - '0'; /* an earlier row of this batch, in this chunk or not */
            memcpy(ids[i], ids[i - 3], sizeof(ids[i]));
        } else if (i % 13 == 0) {
            u = ev[i - 66].user_id[2] - '0'; /* 66 rows back: always an earlier chunk */
            id = ev[i - 66].id;
            if (id != NULL) {
                memcpy(ids[i], ids[i - 66], sizeof(ids[i]));
                id = ids[i];
            }
        } else {
            snprintf(ids[i], sizeof(ids[i]), "q%d", i);
        }
        ev[i] = (struct store_event){users[u], "rev", t0 + 1000 + i, (double)(i + 1), id};
    }
    long long want_acc[3] = {0}, want_dup[3] = {0};
    for (int i = 0; i < N1 + N2 + N3; i++) {
        int b = i < N1 ? 0 : i < N1 + N2 ? 1 : 2;
        bool dup = false;
        char key[24];
        if (ev[i].id != NULL) {
            snprintf(key, sizeof(key), "%s/%s", ev[i].user_id, ev[i].id);
            for (size_t k = 0; k < nseen && !dup; k++) {
                dup = strcmp(seen[k], key) == 0;
            }
            if (!dup) {
                memcpy(seen[nseen++], key, sizeof(key));
            }
        }
        want_dup[b] += dup;
        want_acc[b] += !dup;
        if (!dup) {
            y[ev[i].user_id[2] - '0'] += ev[i].value;
        }
    }
    assert_true(want_dup[1] > 40 && want_acc[1] > 100 && want_dup[2] == N3);
    size_t at[] = {0, N1, N1 + N2, N1 + N2 + N3};
    for (int b = 0; b < 3; b++) {
        struct ix_job j = {.rules = rules, .e = ev + at[b], .n = at[b + 1] - at[b]};
        assert_int_equal(store_write_sync(s, ix_apply, &j, &err), 0);
        assert_int_equal(j.c.accepted, want_acc[b]);
        assert_int_equal(j.c.duplicates, want_dup[b]);
    }
    struct store_suff got = {0};
    assert_int_equal(store_rollup_read(s, "sx", "rev", ix_read, &got, &err), 0);
    double S = 0, Q = 0;
    for (int u = 0; u < IX_USERS; u++) {
        S += y[u];
        Q += y[u] * y[u];
    }
    assert_int_equal(got.n, IX_USERS);
    sl_close(got.s + got.s_lo, S, "S");
    sl_close(got.q + got.q_lo, Q, "Q");
    store_rules_free(rules);
    store_writer_stop(s);
    store_close(s);
}

/* ---- the known-first-exposure cache (store.h "Known first exposures") ---- */

/* A request that moves one user's first exposure earlier again and again (each item earlier
 * than the last) reads the user's events once per pair and rule, not once per item: an sdk
 * key once held the writer for minutes with such a request for a user with many events.
 * The roll-ups equal those of the last item alone. */
static int (*real_events_raw)(struct store_tx *tx, const struct store_rawq *q, size_t n,
                              int64_t *count, struct exactsum_parts *sum, struct err *err);
static size_t raw_ranges;

static int counting_events_raw(struct store_tx *tx, const struct store_rawq *q, size_t n,
                               int64_t *count, struct exactsum_parts *sum, struct err *err)
{
    raw_ranges += n;
    return real_events_raw(tx, q, n, count, sum, err);
}

static void moves_emit(void *ctx, const struct store_suff *st)
{
    struct store_suff *out = ctx;
    out[st->variant[0] == 'b'] = *st;
}

static void test_moves_read_once(void **state)
{
    (void)state;
    enum { MOVES = 40 };
    struct store_rules *rules = sl_rules(0);
    struct store_event ev[20];
    for (int i = 0; i < 20; i++) {
        ev[i] = (struct store_event){"mu", i % 2 ? "rev" : "buy", SL_DAY + (int64_t)i * 3600000,
                                     1.0 + i, NULL};
    }
    struct store_exposure moves[MOVES], last;
    for (int i = 0; i < MOVES; i++) { /* each an hour earlier, the variant alternating */
        moves[i] = (struct store_exposure){"sx", "mu", i % 2 ? "b" : "a",
                                           2 * SL_DAY - (int64_t)i * 3600000, NULL};
    }
    last = moves[MOVES - 1];
    struct store_suff got[2][2];
    memset(got, 0, sizeof(got));
    for (int round = 0; round < 2; round++) {
        struct store *s = open_migrated();
        struct err err;
        struct store_ops counting = *s->ops;
        real_events_raw = s->ops->events_raw;
        counting.events_raw = counting_events_raw;
        const struct store_ops *real = s->ops;
        s->ops = &counting;
        struct sl_batch be = {.rules = rules, .e = ev, .ne = 20};
        assert_int_equal(store_write_sync(s, sl_apply, &be, &err), 0);
        raw_ranges = 0;
        struct sl_batch bx = {.rules = rules, .x = round ? &last : moves, .nx = round ? 1 : MOVES};
        assert_int_equal(store_write_sync(s, sl_apply, &bx, &err), 0);
        assert_true(raw_ranges <= 4); /* two rules, window and pre-period each */
        assert_int_equal(store_rollup_read(s, "sx", "rev", moves_emit, got[round], &err), 0);
        s->ops = real;
        store_close(s);
    }
    for (int v = 0; v < 2; v++) {
        assert_int_equal(got[0][v].n, got[1][v].n);
        assert_true(got[0][v].s == got[1][v].s && got[0][v].q == got[1][v].q);
        assert_true(got[0][v].sx == got[1][v].sx && got[0][v].p == got[1][v].p);
    }
    assert_int_equal(got[0][1].n, 1); /* the last item's variant: b */
    store_rules_free(rules);
}

/* ---- raw values: exact sums, the same on every path (exactsum.h) ---- */

struct ev_read {
    struct store_suff st[2]; /* rev: variants a, b */
    double y[2], x[2];       /* users ea, eb */
};

static void ev_suff(void *ctx, const struct store_suff *st)
{
    ((struct ev_read *)ctx)->st[st->variant[0] == 'b'] = *st;
}

static void ev_user(void *ctx, const struct store_user_row *row)
{
    struct ev_read *r = ctx;
    int u = strcmp(row->user_id, "eb") == 0;
    r->y[u] = row->y;
    r->x[u] = row->x;
}

static void ev_check(struct store *s, const char *when)
{
    struct ev_read r;
    memset(&r, 0, sizeof(r));
    struct err err;
    struct store_users_cursor cur = {.started = false};
    int count = 0;
    assert_int_equal(store_rollup_read(s, "sx", "rev", ev_suff, &r, &err), 0);
    assert_int_equal(
        store_users_page(s, "sx", 0, "rev", NULL, NULL, &cur, 10, ev_user, &r, &count, &err), 0);
    assert_int_equal(count, 2);
    /* ea: 0.1, 1e15, -1e15 one by one, 1e12, 0.07, -1e12 before its exposure; eb: 1e15, 0.06,
     * 0.01, -1e15 before its exposure arrived */
    const double y[2] = {0.1, 0.06 + 0.01}, x[2] = {0.07, 0};
    for (int v = 0; v < 2; v++) {
        double sv = r.st[v].s + r.st[v].s_lo, sx = r.st[v].sx + r.st[v].sx_lo;
        if (r.y[v] != y[v] || r.x[v] != x[v] || r.st[v].n != 1 || sv != y[v] || sx != x[v]) {
            fail_msg("%s, user %d: value %.17g pre %.17g, sums %.17g %.17g; expected %.17g %.17g",
                     when, v, r.y[v], r.x[v], sv, sx, y[v], x[v]);
        }
    }
}

/* A raw value is the exact sum of its events' values rounded once, on every path: events one
 * by one after the exposure (in the window and the look-back), a first exposure over stored
 * events, the full rebuild and the chunked one (both backends: tests/pg/api.sh). TOTAL() and
 * the running double gave 0.125 for 0.1 + 1e15 - 1e15, and 0.06995 for 1e12 + 0.07 - 1e12. */
static void test_raw_values_exact(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    struct store_rules *rules = sl_rules(0);
    int64_t t0 = 10 * SL_DAY;
    struct store_exposure xa = {"sx", "ea", "a", t0, NULL}, xb = {"sx", "eb", "b", t0, NULL};
    struct sl_batch b = {.rules = rules, .x = &xa, .nx = 1};
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    const double ya[] = {0.1, 1e15, -1e15}, xv[] = {1e12, 0.07, -1e12};
    for (int i = 0; i < 3; i++) {
        struct store_event e[2] = {{"ea", "rev", t0 + 3600000 * (i + 1), ya[i], NULL},
                                   {"ea", "rev", t0 - 3600000 * (i + 1), xv[i], NULL}};
        struct sl_batch be = {.rules = rules, .e = e, .ne = 2};
        assert_int_equal(store_write_sync(s, sl_apply, &be, &err), 0);
    }
    const double yb[] = {1e15, 0.06, 0.01, -1e15};
    for (int i = 0; i < 4; i++) {
        struct store_event e = {"eb", "rev", t0 + 3600000 * (i + 1), yb[i], NULL};
        struct sl_batch be = {.rules = rules, .e = &e, .ne = 1};
        assert_int_equal(store_write_sync(s, sl_apply, &be, &err), 0);
    }
    b.x = &xb;
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    ev_check(s, "as ingested");
    assert_int_equal(store_write_sync(s, sl_full_apply, &b, &err), 0);
    ev_check(s, "full rebuild");
    assert_int_equal(store_write_sync(s, sl_rebuild_apply, &b, &err), 0);
    for (int i = 0; i < 100 && !b.finished; i++) {
        assert_int_equal(store_write_sync(s, sl_step_apply, &b, &err), 0);
    }
    assert_true(b.finished);
    ev_check(s, "chunked rebuild");
    store_rules_free(rules);
    store_close(s);
}

static int sl_apply_then_fail(struct store_tx *tx, void *arg, struct err *err)
{
    if (sl_apply(tx, arg, err) != 0) {
        return -1;
    }
    return err_set(err, ERR_INVALID, NULL, "fails after its exposures were applied");
}

/* store_exposed_clear in the middle of a group, as a catalogue reload on another thread may
 * come between a group's transaction and its publishing */
static struct store *clear_during;
static int sl_apply_then_clear(struct store_tx *tx, void *arg, struct err *err)
{
    int rc = sl_apply(tx, arg, err);
    store_exposed_clear(clear_during);
    return rc;
}

/* What a committed transaction left is known, nothing of a failed one; a late earlier
 * exposure overwrites it; store_exposed_clear and a full table empty it, and a group that a
 * clear overlapped publishes nothing. */
static void test_exposed_known(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    store_exposed_configure(s, 1000);
    assert_int_equal(store_writer_start(s, 1000, &err), 0);
    struct store_rules *rules = sl_rules(0);
    struct store_exposure x1[] = {{"sx", "u1", "a", 1000, NULL}, {"sx", "u2", "b", 2000, NULL}};
    struct sl_batch b = {.rules = rules, .x = x1, .nx = 2};
    assert_false(store_exposed_known(s, "sx", "u1", "a", 5000));
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    assert_true(store_exposed_known(s, "sx", "u1", "a", 1000)); /* at the stored time */
    assert_true(store_exposed_known(s, "sx", "u1", "a", 5000));
    assert_false(store_exposed_known(s, "sx", "u1", "a", 999));  /* earlier: it would move */
    assert_false(store_exposed_known(s, "sx", "u1", "b", 5000)); /* a conflict to count */
    assert_false(store_exposed_known(s, "sy", "u1", "a", 5000));
    assert_false(store_exposed_known(s, "sx", "u3", "a", 5000));
    assert_true(store_exposed_known(s, "sx", "u2", "b", 2000));
    /* a repeat leaves the first exposure, and the entry, as they were */
    struct store_exposure x2[] = {{"sx", "u1", "a", 9000, NULL}};
    b = (struct sl_batch){.rules = rules, .x = x2, .nx = 1};
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    assert_true(store_exposed_known(s, "sx", "u1", "a", 1000));
    /* an earlier exposure to another variant arriving late replaces the first one */
    struct store_exposure x3[] = {{"sx", "u1", "b", 500, NULL}};
    b = (struct sl_batch){.rules = rules, .x = x3, .nx = 1};
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    assert_false(store_exposed_known(s, "sx", "u1", "a", 5000));
    assert_true(store_exposed_known(s, "sx", "u1", "b", 500));
    /* a job that fails after its exposures were applied leaves nothing known */
    struct store_exposure x4[] = {{"sx", "u4", "a", 3000, NULL}};
    b = (struct sl_batch){.rules = rules, .x = x4, .nx = 1};
    assert_int_equal(store_write_sync(s, sl_apply_then_fail, &b, &err), -1);
    assert_false(store_exposed_known(s, "sx", "u4", "a", 5000));
    store_exposed_clear(s);
    assert_false(store_exposed_known(s, "sx", "u2", "b", 5000));
    clear_during = s;
    struct store_exposure x6[] = {{"sx", "u6", "a", 3000, NULL}};
    b = (struct sl_batch){.rules = rules, .x = x6, .nx = 1};
    assert_int_equal(store_write_sync(s, sl_apply_then_clear, &b, &err), 0);
    assert_false(store_exposed_known(s, "sx", "u6", "a", 5000));
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0); /* the repeat: known now */
    assert_true(store_exposed_known(s, "sx", "u6", "a", 5000));
    /* full: emptied, then filled again by what comes next */
    store_writer_stop(s);
    store_exposed_configure(s, 12); /* 16 slots, 12 pairs */
    assert_int_equal(store_writer_start(s, 1000, &err), 0);
    char names[13][16];
    struct store_exposure x5[13];
    for (int i = 0; i < 13; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d", i);
        x5[i] = (struct store_exposure){"sx", names[i], "a", 4000, NULL};
    }
    b = (struct sl_batch){.rules = rules, .x = x5, .nx = 12};
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    for (int i = 0; i < 12; i++) {
        assert_true(store_exposed_known(s, "sx", names[i], "a", 4000));
    }
    b = (struct sl_batch){.rules = rules, .x = &x5[12], .nx = 1};
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    assert_true(store_exposed_known(s, "sx", names[12], "a", 4000));
    assert_false(store_exposed_known(s, "sx", names[0], "a", 4000));
    /* off: nothing is known */
    store_writer_stop(s);
    store_exposed_configure(s, 0);
    assert_int_equal(store_writer_start(s, 1000, &err), 0);
    b = (struct sl_batch){.rules = rules, .x = x1, .nx = 2};
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    assert_false(store_exposed_known(s, "sx", "u2", "b", 5000));
    store_writer_stop(s);
    store_rules_free(rules);
    store_close(s);
}

int main(void)
{
    backend_detect();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_index),     cmocka_unit_test(test_late_exposures_ignored),
        cmocka_unit_test(test_moves_read_once), cmocka_unit_test(test_raw_values_exact),
        cmocka_unit_test(test_exposed_known),   cmocka_unit_test(test_events_insert_chunks),
    };
    return cmocka_run_group_tests_name(on_pg ? "store_ingest (postgres)" : "store_ingest", tests,
                                       setup, teardown);
}
