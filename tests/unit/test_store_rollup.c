/* Store unit tests: the roll-ups and their rebuilds. Daily roll-ups by exposure day,
 * conflicting exposures counted independently of arrival order and of the stop, dimension
 * slices equal to a recount from the raw rows (ingested, rebuilt in chunks, recomputed at
 * once), ratio sums kept through a rebuild.
 *
 * Both backends (store_fixture.h): a fresh SQLite file per test by default, a fresh PostgreSQL
 * database when BUNSEN_TEST_DATABASE names a server (tests/pg/api.sh). */
#include "store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bunsen/store.h"

/* Rebuild experiment's roll-ups to the end (store_rebuild_start, then its chunks). */
static void rebuild_all(struct store *s, const char *experiment, int64_t stop,
                        const struct store_rule *const *rs, size_t nr)
{
    struct store_tx tx;
    struct err err;
    tx_open(s, &tx, true);
    assert_int_equal(store_rebuild_start(&tx, experiment, stop, rs, nr, &err), 0);
    tx_done(&tx);
    bool fin = false;
    for (int i = 0; i < 100 && !fin; i++) {
        tx_open(s, &tx, false);
        assert_int_equal(store_rebuild_step(&tx, experiment, stop, rs, nr, &fin, &err), 0);
        tx_done(&tx);
    }
    assert_true(fin);
}

/* The daily roll-up is by exposure day: a user's day holds the user and the user's value,
 * booked by ingestion in any order and by a rebuild alike. An event stored before its user's
 * exposure, conversions arriving out of order and an exposure moved earlier to another
 * variant once left the incremental days different from a rebuild's (and a day's binomial
 * count at -1, which made the time series answer 400). */
struct day_text {
    char t[4096];
    size_t len;
};

static void day_emit(void *ctx, int64_t day, const struct store_suff *st)
{
    struct day_text *d = ctx;
    int n =
        snprintf(d->t + d->len, sizeof(d->t) - d->len, "%lld %s %lld %.12g %.12g;", (long long)day,
                 st->variant, (long long)st->n, st->s + st->s_lo, st->q + st->q_lo);
    d->len += n > 0 ? (size_t)n : 0;
}

static void test_daily_by_exposure_day(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    const int64_t day = 86400000, start = 20000 * day;
    struct store_rule *rl = one_rule("dx", "conv", "buy", RULE_BINOMIAL);
    rl->start_ts = start;
    struct store_rules *rules = store_rules_new(rl, 1);
    size_t nr = 0;
    const struct store_rule *const *rs = store_rules_for_experiment(rules, "dx", &nr);
    struct store_tx tx;
    struct store_ingest_counts cnt = {0};
    /* u1 converts on day 2 (stored first), twice, the later one first; u2 never */
    struct store_event e1[] = {{"u1", "buy", start + 2 * day + 500, 0, NULL},
                               {"u1", "buy", start + 2 * day, 0, NULL}};
    struct store_exposure x1[] = {{"dx", "u1", "a", start + 10, NULL},
                                  {"dx", "u2", "a", start + 20, NULL}};
    /* u3 exposed to b on day 1, converts on day 2, then an earlier exposure to a on day 0 */
    struct store_exposure x2[] = {{"dx", "u3", "b", start + day, NULL},
                                  {"dx", "u4", "b", start + day + 5, NULL}};
    struct store_event e2[] = {{"u3", "buy", start + 2 * day + 7, 0, NULL}};
    struct store_exposure x3[] = {{"dx", "u3", "a", start + 30, NULL}};
    tx_open(s, &tx, false);
    assert_int_equal(store_ingest_events(&tx, rules, e1, 2, &cnt, &err), 0);
    assert_int_equal(store_ingest_exposures(&tx, rules, x1, 2, &cnt, &err), 0);
    assert_int_equal(store_ingest_exposures(&tx, rules, x2, 2, &cnt, &err), 0);
    assert_int_equal(store_ingest_events(&tx, rules, e2, 1, &cnt, &err), 0);
    assert_int_equal(store_ingest_exposures(&tx, rules, x3, 1, &cnt, &err), 0);
    tx_done(&tx);
    struct day_text inc = {0}, reb = {0};
    assert_int_equal(store_rollup_daily(s, "dx", "conv", day_emit, &inc, &err), 0);
    rebuild_all(s, "dx", 0, rs, nr);
    assert_int_equal(store_rollup_daily(s, "dx", "conv", day_emit, &reb, &err), 0);
    assert_string_equal(inc.t, reb.t);
    /* day 0 already holds a's three users and two conversions; b has u4 from day 1 */
    assert_non_null(strstr(inc.t, "20000 a 3 2 2;"));
    store_rules_free(rules);
    store_close(s);
}

/* What is stored of a user's exposures does not depend on their arrival order: the first is
 * the earliest (on a tie, the least variant key), and a user exposed to another variant
 * before the stop counts once in conflicting_exposures, in its first variant, as a rebuild
 * counts it. The count used to be of arrivals that differed from the first as it then was
 * (control@20, v1@10, control@0 counted 2; in time order 1), and a tie went to the first
 * to arrive. */
struct xusers {
    int64_t users[2]; /* control, v1 */
};

static void xusers_emit(void *ctx, const char *variant, int64_t users)
{
    struct xusers *u = ctx;
    u->users[strcmp(variant, "control") == 0 ? 0 : 1] += users;
}

static void conflicts_of(struct store *s, const char *exp, int64_t *total, struct xusers *u)
{
    struct err err;
    *u = (struct xusers){{0, 0}};
    assert_int_equal(store_exposure_by_variant(s, exp, xusers_emit, u, total, &err), 0);
}

static void test_conflicts_order_free(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    const int64_t t = 20000LL * 86400000;
    struct store_rule *rl = one_rule("cx", "n", "buy", RULE_COUNT);
    rl->start_ts = t;
    struct store_rules *rules = store_rules_new(rl, 1);
    size_t nr = 0;
    const struct store_rule *const *rs = store_rules_for_experiment(rules, "cx", &nr);
    /* each user's exposures in arrival order, one request each, then all again in one */
    static const struct {
        const char *user, *variants[4];
        int64_t at[4];
    } seq[] = {
        {"u1", {"control", "v1", "control"}, {0, 10, 20}},
        {"u2", {"control", "v1", "control"}, {20, 10, 0}},
        {"u3", {"v1", "control", "control"}, {10, 20, 0}},
        {"u4", {"v1", "control", "v1", "control"}, {30, 20, 10, 0}},
        {"u5", {"control", "v1"}, {5, 5}},
        {"u6", {"v1", "control"}, {5, 5}}, /* a tie: control, the least key, is first */
        {"u7", {"control", "control"}, {10, 0}},
        {"u8", {"v1"}, {0}},
    };
    struct store_tx tx;
    struct store_ingest_counts cnt = {0};
    tx_open(s, &tx, false);
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        for (size_t j = 0; j < 4 && seq[i].variants[j] != NULL; j++) {
            struct store_exposure x = {"cx", seq[i].user, seq[i].variants[j], t + seq[i].at[j],
                                       NULL};
            assert_int_equal(store_ingest_exposures(&tx, rules, &x, 1, &cnt, &err), 0);
        }
    }
    tx_done(&tx);
    int64_t conflicts = 0;
    struct xusers u;
    conflicts_of(s, "cx", &conflicts, &u);
    assert_int_equal(conflicts, 6); /* u1-u6: every user who saw both */
    assert_int_equal(u.users[0], 7);
    assert_int_equal(u.users[1], 1);
    /* the same in one request, users interleaved and reversed: the same state */
    struct store_exposure all[32];
    size_t n = 0;
    for (size_t j = 4; j-- > 0;) {
        for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
            if (seq[i].variants[j] != NULL) {
                all[n++] = (struct store_exposure){"cy", seq[i].user, seq[i].variants[j],
                                                   t + seq[i].at[j], NULL};
            }
        }
    }
    tx_open(s, &tx, false);
    assert_int_equal(store_ingest_exposures(&tx, rules, all, n, &cnt, &err), 0);
    tx_done(&tx);
    int64_t conflicts_y = 0;
    struct xusers uy;
    conflicts_of(s, "cy", &conflicts_y, &uy);
    assert_int_equal(conflicts_y, 6);
    assert_int_equal(uy.users[0], 7);
    /* a rebuild counts the same from the rows */
    rebuild_all(s, "cx", 0, rs, nr);
    conflicts_of(s, "cx", &conflicts, &u);
    assert_int_equal(conflicts, 6);
    assert_int_equal(u.users[0], 7);
    /* stopped at t + 8: exposures to another variant from then on never count, whether
     * they arrived before the stop or not: u1-u4's earliest other variant is v1@10, u5's and
     * u6's v1 and control@5 */
    rebuild_all(s, "cx", t + 8, rs, nr);
    conflicts_of(s, "cx", &conflicts, &u);
    assert_int_equal(u.users[0], 7);
    assert_int_equal(conflicts, 2);
    store_rules_free(rules);
    store_close(s);
}

/* An exposure to another variant after the stop, stored before the stop was known, does not
 * make the user conflicting once the stop's rebuild ran, as it would not had it arrived after
 * the stop (ignored). */
static void test_conflict_after_stop(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    const int64_t t = 20000LL * 86400000;
    struct store_rules *running = store_rules_new(NULL, 0);
    struct store_tx tx;
    struct store_ingest_counts cnt = {0};
    struct store_exposure xs[] = {{"sx", "u1", "control", t, NULL},
                                  {"sx", "u1", "v1", t + 200, NULL},
                                  {"sx", "u2", "control", t, NULL},
                                  {"sx", "u2", "v1", t + 50, NULL}};
    tx_open(s, &tx, false);
    assert_int_equal(store_ingest_exposures(&tx, running, xs, 4, &cnt, &err), 0);
    tx_done(&tx);
    int64_t conflicts = 0;
    struct xusers u;
    conflicts_of(s, "sx", &conflicts, &u);
    assert_int_equal(conflicts, 2);
    /* stopped at t + 100: u1's v1@200 no longer counts, u2's v1@50 does */
    rebuild_all(s, "sx", t + 100, NULL, 0);
    conflicts_of(s, "sx", &conflicts, &u);
    assert_int_equal(conflicts, 1);
    assert_int_equal(u.users[0], 2);
    store_rules_free(running);
    store_close(s);
}

/* ---- dimension breakdowns: slices equal a recount from the raw rows ---- */

#define SL_USERS 180

static const char *const SL_COUNTRY[] = {"NL", "DE", "FR", NULL};

struct sl_user {
    char id[16];
    int variant;         /* of the first exposure (earliest ts) */
    int64_t t0;          /* earliest exposure ts */
    size_t later_index;  /* of its second exposure item (users u % 4 == 0) */
    const char *country; /* recorded with the first exposure stored */
    const char *plan;
};
static struct sl_user SU[SL_USERS];

struct sl_event {
    int user;
    const char *name;
    int64_t ts;
    double value;
};
static struct sl_event SE[SL_USERS * 6];
static size_t nse;

struct sl_read {
    const char *value;
    int64_t n[2];
    double s[2], q[2], sx[2], qx[2], p[2];
    int64_t users[2];
};

static void sl_emit(void *ctx, const char *value, const struct store_suff *st)
{
    struct sl_read *r = ctx;
    if (strcmp(value, r->value) != 0) {
        return;
    }
    int v = strcmp(st->variant, "b") == 0;
    r->n[v] += st->n;
    r->s[v] += st->s + st->s_lo;
    r->q[v] += st->q + st->q_lo;
    r->sx[v] += st->sx + st->sx_lo;
    r->qx[v] += st->qx + st->qx_lo;
    r->p[v] += st->p + st->p_lo;
}

static void sl_users(void *ctx, const char *value, const char *variant, int64_t users)
{
    struct sl_read *r = ctx;
    if (strcmp(value, r->value) == 0) {
        r->users[strcmp(variant, "b") == 0] += users;
    }
}

/* Every slice of both dimensions against the recount of SU/SE for metric (cap 0 = none). */
static void sl_check(struct store *s, const char *metric, double cap)
{
    const char *dims[] = {"country", "plan"};
    const char *values[][6] = {{"NL", "DE", "FR", "ZZ", "(none)", NULL},
                               {"free", "pro", "gold", NULL}};
    bool binomial = strcmp(metric, "buy") == 0;
    for (int d = 0; d < 2; d++) {
        for (int k = 0; values[d][k] != NULL; k++) {
            struct sl_read got = {.value = values[d][k]};
            struct sl_read want = {.value = values[d][k]};
            struct err err;
            assert_int_equal(store_slice_read(s, "sx", metric, dims[d], sl_emit, &got, &err), 0);
            assert_int_equal(store_slice_exposures(s, "sx", dims[d], sl_users, &got, &err), 0);
            for (int u = 0; u < SL_USERS; u++) {
                const char *uv = d == 0 ? SU[u].country : SU[u].plan;
                if (strcmp(uv ? uv : "(none)", values[d][k]) != 0) {
                    continue;
                }
                double y = 0, x = 0;
                for (size_t e = 0; e < nse; e++) {
                    if (SE[e].user != u || strcmp(SE[e].name, metric) != 0) {
                        continue;
                    }
                    if (SE[e].ts >= SU[u].t0) {
                        y += binomial ? 1 : SE[e].value;
                    } else if (SE[e].ts >= SU[u].t0 - 2 * SL_DAY) {
                        x += binomial ? 1 : SE[e].value;
                    }
                }
                if (binomial) {
                    y = y > 0;
                    x = x > 0;
                } else if (cap > 0) {
                    y = y > cap ? cap : y;
                    x = x > cap ? cap : x;
                }
                int v = SU[u].variant;
                want.n[v]++;
                want.users[v]++;
                want.s[v] += y;
                want.q[v] += y * y;
                want.sx[v] += x;
                want.qx[v] += x * x;
                want.p[v] += x * y;
            }
            for (int v = 0; v < 2; v++) {
                assert_int_equal(got.n[v], want.n[v]);
                assert_int_equal(got.users[v], want.users[v]);
                sl_close(got.s[v], want.s[v], "S");
                sl_close(got.q[v], want.q[v], "Q");
                sl_close(got.sx[v], want.sx[v], "Sx");
                sl_close(got.qx[v], want.qx[v], "Qx");
                sl_close(got.p[v], want.p[v], "P");
            }
        }
    }
}

static void test_slices_equal_recount(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    store_rebuild_configure(s, 7, 0); /* chunks of 7 users */
    assert_true(store_has_slices(s));
    unsigned seed = 99;
    int64_t base = 1700000000000LL;
    struct store_rules *rules = sl_rules(0);
    /* per user: up to two exposures (the later-arriving one sometimes earlier, with other
     * dimension values: recorded when both items come in one batch, as the earliest item of
     * a request is its first exposure; not when the earlier one comes in a later batch, as a
     * stored first exposure keeps its values), events around them */
    struct store_exposure *xs = calloc(SL_USERS * 2, sizeof(*xs));
    char **enc = calloc(SL_USERS * 2, sizeof(*enc));
    struct store_event *ev = calloc(SL_USERS * 6, sizeof(*ev));
    size_t nx = 0;
    for (int u = 0; u < SL_USERS; u++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(SU[u].id, sizeof(SU[u].id), "u%03d", u);
        SU[u].variant = (int)((seed >> 16) % 2);
        SU[u].country = SL_COUNTRY[(seed >> 18) % 4];
        SU[u].plan = u % 3 ? "free" : "pro";
        SU[u].t0 = base + (int64_t)(u % 5) * SL_DAY;
        store_dims_append(&enc[nx], "country", SU[u].country);
        store_dims_append(&enc[nx], "plan", SU[u].plan);
        xs[nx] =
            (struct store_exposure){"sx", SU[u].id, SU[u].variant ? "b" : "a", SU[u].t0, enc[nx]};
        nx++;
        if (u % 4 == 0) {
            /* arrives second with an earlier ts: becomes the first exposure (its values are
             * recorded when it comes in the same batch: see below) */
            SU[u].t0 -= SL_DAY / 2;
            SU[u].later_index = nx;
            store_dims_append(&enc[nx], "country", "ZZ");
            store_dims_append(&enc[nx], "plan", "gold");
            xs[nx] = (struct store_exposure){"sx", SU[u].id, SU[u].variant ? "b" : "a", SU[u].t0,
                                             enc[nx]};
            nx++;
        }
        for (int e = 0; e < 5; e++) {
            seed = seed * 1103515245u + 12345u;
            int64_t ts = SU[u].t0 + ((int64_t)((seed >> 16) % 96) - 48) * 3600000LL;
            double value = 1e9 + (double)((seed >> 8) % 10000) / 100.0;
            const char *name = e % 3 == 2 ? "buy" : "rev";
            SE[nse] = (struct sl_event){u, name, ts, value};
            ev[nse] = (struct store_event){SU[u].id, name, ts, value, NULL};
            nse++;
        }
    }
    /* half of the events first, then the exposures in two batches, then the rest */
    for (int u = 0; u < SL_USERS; u += 4) {
        bool same_batch = (SU[u].later_index - 1 < nx / 2) == (SU[u].later_index < nx / 2);
        if (same_batch) { /* the earlier item's values, in the same request */
            SU[u].country = "ZZ";
            SU[u].plan = "gold";
        }
    }
    size_t half = nse / 2;
    struct sl_batch b1 = {.rules = rules, .e = ev, .ne = half};
    assert_int_equal(store_write_sync(s, sl_apply, &b1, &err), 0);
    struct sl_batch b2 = {.rules = rules, .x = xs, .nx = nx / 2};
    assert_int_equal(store_write_sync(s, sl_apply, &b2, &err), 0);
    struct sl_batch b3 = {
        .rules = rules, .x = xs + nx / 2, .nx = nx - nx / 2, .e = ev + half, .ne = nse - half};
    assert_int_equal(store_write_sync(s, sl_apply, &b3, &err), 0);
    sl_check(s, "rev", 0);
    sl_check(s, "buy", 0);
    /* a definition change: a cap, rebuilt in chunks; slices equal the recount under it */
    double cap = 1e9 + 40;
    struct store_rules *capped = sl_rules(cap);
    struct sl_batch rb = {.rules = capped};
    assert_int_equal(store_write_sync(s, sl_rebuild_apply, &rb, &err), 0);
    int steps = 0;
    while (!rb.finished) {
        assert_int_equal(store_write_sync(s, sl_step_apply, &rb, &err), 0);
        steps++;
        assert_true(steps < 1000);
    }
    assert_true(steps >= SL_USERS / 7);
    sl_check(s, "rev", cap);
    sl_check(s, "buy", 0);
    /* the one-transaction recompute (its statements without a user range) gives the same */
    assert_int_equal(store_write_sync(s, sl_full_apply, &rb, &err), 0);
    sl_check(s, "rev", cap);
    sl_check(s, "buy", 0);
    store_rules_free(capped);
    store_rules_free(rules);
    for (size_t i = 0; i < nx; i++) {
        free(enc[i]);
    }
    free(enc);
    free(xs);
    free(ev);
    store_close(s);
}

/* ---- ratio sums kept through a rebuild (migration 0009) ---- */

struct rk_job {
    int64_t generation;
    const struct store_ratio_sums *rows;
    size_t n;
    bool kept;
};

static int rk_keep_apply(struct store_tx *tx, void *arg, struct err *err)
{
    struct rk_job *j = arg;
    return store_rebuild_keep_ratios(tx, "sx", j->generation, j->rows, j->n, &j->kept, err);
}

struct rk_read {
    int rows;
    struct store_suff last, a; /* the last row, the row of variant "a" */
    char value[64];
};

static void rk_emit(void *ctx, const char *value, const struct store_suff *st)
{
    struct rk_read *r = ctx;
    r->rows++;
    r->last = *st;
    if (strcmp(st->variant, "a") == 0) {
        r->a = *st;
    }
    snprintf(r->value, sizeof(r->value), "%s", value);
}

static int rk_read(struct store *s, const char *num, const char *dim, struct rk_read *out)
{
    struct err err;
    memset(out, 0, sizeof(*out));
    return store_rebuild_ratio_read(s, "sx", "r", num, "buy", dim, rk_emit, out, &err);
}

static void test_ratio_sums_kept(void **state)
{
    (void)state;
    struct store *s = open_migrated();
    struct err err;
    store_rebuild_configure(s, 2, 0); /* more users than a chunk: the rebuild stays running */
    struct store_rules *rules = sl_rules(0);
    struct store_exposure xs[6];
    char ids[6][16];
    for (int u = 0; u < 6; u++) {
        snprintf(ids[u], sizeof(ids[u]), "k%d", u);
        xs[u] = (struct store_exposure){"sx", ids[u], u % 2 ? "b" : "a", 1700000000000LL, NULL};
    }
    struct sl_batch b = {.rules = rules, .x = xs, .nx = 6};
    assert_int_equal(store_write_sync(s, sl_apply, &b, &err), 0);
    struct sl_batch rb = {.rules = rules};
    assert_int_equal(store_write_sync(s, sl_rebuild_apply, &rb, &err), 0);
    struct store_rebuild st;
    assert_int_equal(store_rebuild_get(s, "sx", &st, &err), 1);
    assert_int_equal(st.generation, 1);
    assert_string_equal(st.cursor, "");
    assert_false(st.ratios_kept);
    /* sums with low parts that a float column would round away, a marker, a slice */
    struct store_ratio_sums rows[] = {
        {"r",
         "rev",
         "buy",
         "",
         "",
         {.variant = "a",
          .n = 3,
          .s = 1e9 + 0.25,
          .s_lo = 1e-8,
          .q = 7,
          .sx = 2,
          .qx = 2,
          .p = 5,
          .p_lo = -3e-12}},
        {"r", "rev", "buy", "", "", {.variant = "b", .n = 3, .s = 4}},
        {"r", "rev", "buy", "plan", "", {.variant = ""}},
        {"r", "rev", "buy", "plan", "pro", {.variant = "b", .n = 1, .s = 2.5, .sx = 1}},
    };
    struct rk_job wrong = {.generation = 2, .rows = rows, .n = 4};
    assert_int_equal(store_write_sync(s, rk_keep_apply, &wrong, &err), 0);
    assert_false(wrong.kept); /* not this generation */
    struct rk_read r;
    assert_int_equal(rk_read(s, "rev", "", &r), 0);
    struct rk_job job = {.generation = 1, .rows = rows, .n = 4};
    assert_int_equal(store_write_sync(s, rk_keep_apply, &job, &err), 0);
    assert_true(job.kept);
    assert_int_equal(store_rebuild_get(s, "sx", &st, &err), 1);
    assert_true(st.ratios_kept);
    struct rk_job again = {.generation = 1, .rows = rows, .n = 4};
    assert_int_equal(store_write_sync(s, rk_keep_apply, &again, &err), 0);
    assert_false(again.kept); /* kept once */
    /* read back exactly (ordered by value, variant: "b" last) */
    assert_int_equal(rk_read(s, "rev", "", &r), 1);
    assert_int_equal(r.rows, 2);
    assert_string_equal(r.last.variant, "b");
    /* the double-double parts survive bit for bit */
    assert_true(r.a.n == 3 && r.a.s == 1e9 + 0.25 && r.a.s_lo == 1e-8 && r.a.q == 7 &&
                r.a.sx == 2 && r.a.qx == 2 && r.a.p == 5 && r.a.p_lo == -3e-12);
    assert_int_equal(rk_read(s, "rev", "plan", &r), 1);
    assert_int_equal(r.rows, 1); /* the marker says "kept", it is not a row */
    assert_string_equal(r.value, "pro");
    assert_true(r.last.s == 2.5 && r.last.sx == 1 && r.last.n == 1);
    assert_int_equal(rk_read(s, "rev", "country", &r), 0); /* a dimension not kept */
    assert_int_equal(rk_read(s, "buy", "", &r), 0);        /* other parts */
    /* a restart (a second change) keeps the first generation's sums */
    assert_int_equal(store_write_sync(s, sl_step_apply, &rb, &err), 0);
    assert_int_equal(store_write_sync(s, sl_rebuild_apply, &rb, &err), 0);
    assert_int_equal(store_rebuild_get(s, "sx", &st, &err), 1);
    assert_int_equal(st.generation, 2);
    assert_true(st.ratios_kept); /* the first generation's sums stay: the last complete ones */
    /* the end of the rebuild drops them */
    for (int i = 0; i < 100 && !rb.finished; i++) {
        assert_int_equal(store_write_sync(s, sl_step_apply, &rb, &err), 0);
    }
    assert_true(rb.finished);
    assert_int_equal(rk_read(s, "rev", "", &r), 0);
    assert_int_equal(store_rebuild_get(s, "sx", &st, &err), 0);
    /* a new rebuild whose first chunk ran before anything was kept: values are half
     * rewritten, so nothing can be kept any more */
    rb.finished = false;
    assert_int_equal(store_write_sync(s, sl_rebuild_apply, &rb, &err), 0);
    assert_int_equal(store_write_sync(s, sl_step_apply, &rb, &err), 0);
    assert_int_equal(store_rebuild_get(s, "sx", &st, &err), 1);
    assert_int_equal(st.generation, 1);
    assert_string_not_equal(st.cursor, "");
    struct rk_job late = {.generation = 1, .rows = rows, .n = 4};
    assert_int_equal(store_write_sync(s, rk_keep_apply, &late, &err), 0);
    assert_false(late.kept);
    assert_int_equal(rk_read(s, "rev", "", &r), 0);
    store_rules_free(rules);
    store_close(s);
}

int main(void)
{
    backend_detect();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daily_by_exposure_day), cmocka_unit_test(test_conflicts_order_free),
        cmocka_unit_test(test_conflict_after_stop),   cmocka_unit_test(test_slices_equal_recount),
        cmocka_unit_test(test_ratio_sums_kept),
    };
    return cmocka_run_group_tests_name(on_pg ? "store_rollup (postgres)" : "store_rollup", tests,
                                       setup, teardown);
}
