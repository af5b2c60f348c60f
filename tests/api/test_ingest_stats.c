/*
 * Acceptance test of attribution (STATS.md "Per-user values", "Sufficient statistics"):
 * a generator with a fixed seed makes ~3,000 users, assigns them to 2 variants itself and
 * posts their exposures (with duplicates, conflicting later exposures and earlier
 * exposures arriving late), and ~30,000 events for 3 metrics (binomial with a 72 h window,
 * count without a window, sum with a cap and a 168 h window; CUPED lookback 336 h):
 * events before the lookback, inside it, inside and after the windows and on their edges,
 * for users never exposed, events without metrics, refunds, repeated ids within a batch
 * and across batches, posted in batches of up to 1,000 before, between and after the
 * exposures. The expected n, S, Q, Sx, Qx, P of every (metric, variant) are computed
 * from the generated data and compared with metric_stats: exactly for n and for the
 * binomial and count sums, to 1e-9 relative for the sum metric. Then the sum metric's
 * cap changes (PATCH): the rebuilt statistics must match a recomputation with the new
 * cap, and so must the statistics after one more batch attributed incrementally.
 */
#include "harness.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#define HOUR_MS    3600000LL
#define DAY_MS     (24 * HOUR_MS)
#define NUSERS     3000
#define NEXPOSED   2600 /* users 2600..2999 are never exposed */
#define NGHOSTS    50   /* and "ghost-N" users only have events */
#define NEVENTS    30000
#define NEXTRA     1000 /* events of the batch posted after the PATCH */
#define NREPOSTS   1500 /* events posted again with the same id */
#define BATCH      1000
#define LOOKBACK   (336 * HOUR_MS)
#define CAP_BEFORE 60.0
#define CAP_AFTER  25.0

enum { M_CONV, M_CLICKS, M_REV, NMETRICS };
enum { E_PURCHASE, E_CLICK, E_VIEW };

static const char *const METRIC_KEYS[NMETRICS] = {"conv", "clicks", "rev"};
static const char *const EVENT_NAMES[] = {"purchase", "click", "view"};
static const char *const VARIANTS[2] = {"control", "treatment"};

struct gen_user {
    int variant; /* of the first exposure */
    long long t0;
};

struct gen_event {
    int user; /* index into users; >= NUSERS: ghost user (user - NUSERS) */
    int name;
    bool has_value;
    double value;
    long long ts;
    int id; /* -1: no idempotency key */
};

struct gen_expo {
    int user;
    int variant;
    long long ts;
};

static struct daemon D;
static char SDK[64];
static long long NOW;
static uint64_t rng = 20240601;
static struct gen_user users[NEXPOSED];
static struct gen_event events[NEVENTS + NEXTRA];
static struct gen_expo expo_a[2 * NEXPOSED], expo_b[NEXPOSED];
static int nexpo_a, nexpo_b;

/* splitmix64: fixed seed, same data on every run and machine */
static uint64_t next_u64(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static long long rnd(long long n)
{
    return n > 0 ? (long long)(next_u64() % (uint64_t)n) : 0;
}

static double rnd_unit(void)
{
    return (double)(next_u64() >> 11) / 9007199254740992.0;
}

/* ---- generation ---- */

static void gen_exposures(void)
{
    for (int i = 0; i < NEXPOSED; i++) {
        int v = (int)rnd(2);
        long long t0 = NOW - 2 * DAY_MS - rnd(10 * DAY_MS);
        users[i] = (struct gen_user){v, t0};
        int kind = (int)rnd(100);
        if (kind < 8) {
            /* a later exposure (same or other variant) first; the real first one late */
            expo_a[nexpo_a++] = (struct gen_expo){i, (int)rnd(2), t0 + HOUR_MS + rnd(2 * DAY_MS)};
            expo_b[nexpo_b++] = (struct gen_expo){i, v, t0};
        } else {
            expo_a[nexpo_a++] = (struct gen_expo){i, v, t0};
            if (kind < 20) { /* a later repeat: other variant (conflict) or the same */
                expo_a[nexpo_a++] =
                    (struct gen_expo){i, kind < 14 ? 1 - v : v, t0 + 60000 + rnd(5 * DAY_MS)};
            }
        }
    }
    /* shuffled: a later exposure may be posted before the user's first one */
    for (int i = nexpo_a - 1; i > 0; i--) {
        int j = (int)rnd(i + 1);
        struct gen_expo t = expo_a[i];
        expo_a[i] = expo_a[j];
        expo_a[j] = t;
    }
}

/* An event time relative to the user's first exposure t0, never after NOW. */
static long long gen_ts(long long t0)
{
    long long ts;
    int c = (int)rnd(100);
    if (c < 10) {
        ts = t0 - LOOKBACK - 1 - rnd(5 * DAY_MS); /* before the lookback */
    } else if (c < 28) {
        ts = t0 - 1 - rnd(LOOKBACK); /* inside the lookback */
    } else if (c < 60) {
        ts = t0 + rnd(72 * HOUR_MS); /* inside every window */
    } else if (c < 75) {
        ts = t0 + 72 * HOUR_MS + rnd(96 * HOUR_MS); /* after the binomial's window */
    } else if (c < 90) {
        ts = t0 + 168 * HOUR_MS + rnd(NOW - t0 - 168 * HOUR_MS); /* after the sum's window */
    } else {
        static const long long edges[] = {
            0, 72 * HOUR_MS, 168 * HOUR_MS, -LOOKBACK, -LOOKBACK - 1, -1, 72 * HOUR_MS - 1};
        ts = t0 + edges[rnd(sizeof(edges) / sizeof(edges[0]))];
    }
    return ts < NOW ? ts : NOW;
}

static void gen_events(int from, int to)
{
    for (int k = from; k < to; k++) {
        struct gen_event *e = &events[k];
        if (rnd(100) < 5) { /* never exposed */
            e->user = rnd(2) ? NEXPOSED + (int)rnd(NUSERS - NEXPOSED) : NUSERS + (int)rnd(NGHOSTS);
            e->ts = NOW - rnd(20 * DAY_MS);
        } else {
            e->user = (int)rnd(NEXPOSED);
            e->ts = gen_ts(users[e->user].t0);
        }
        int r = (int)rnd(100);
        e->name = r < 55 ? E_PURCHASE : r < 95 ? E_CLICK : E_VIEW;
        e->has_value = e->name == E_PURCHASE || rnd(2);
        if (e->name == E_PURCHASE) {
            double v = rnd(10) == 0 ? -40 * rnd_unit() : 80 * rnd_unit(); /* 10% refunds */
            e->value = round(v * 100) / 100;
        } else {
            e->value = 1 + (double)rnd(3);
        }
        e->id = rnd(10) == 0 ? -1 : k;
    }
}

/* ---- expected statistics ---- */

struct suff {
    long long n;
    long double s, q, sx, qx, p;
};

static bool counts_toward(int metric, int name)
{
    return name == (metric == M_CLICKS ? E_CLICK : E_PURCHASE);
}

static long long window_of(int metric)
{
    return metric == M_CONV ? 72 * HOUR_MS : metric == M_REV ? 168 * HOUR_MS : -1;
}

/* Per-user values over events[0..nev) (each stored once) into out[metric][variant]. */
static void expected(int nev, double cap, struct suff out[NMETRICS][2])
{
    static double yraw[NEXPOSED][NMETRICS], xraw[NEXPOSED][NMETRICS];
    memset(yraw, 0, sizeof(yraw));
    memset(xraw, 0, sizeof(xraw));
    memset(out, 0, sizeof(struct suff) * NMETRICS * 2);
    for (int k = 0; k < nev; k++) {
        const struct gen_event *e = &events[k];
        if (e->user >= NEXPOSED) {
            continue;
        }
        long long t0 = users[e->user].t0;
        for (int m = 0; m < NMETRICS; m++) {
            if (!counts_toward(m, e->name)) {
                continue;
            }
            double inc = m == M_REV ? (e->has_value ? e->value : 1.0) : 1.0;
            long long w = window_of(m);
            if (e->ts >= t0 && (w < 0 || e->ts < t0 + w)) {
                yraw[e->user][m] += inc;
            } else if (e->ts < t0 && e->ts >= t0 - LOOKBACK) {
                xraw[e->user][m] += inc;
            }
        }
    }
    for (int i = 0; i < NEXPOSED; i++) {
        for (int m = 0; m < NMETRICS; m++) {
            double y = yraw[i][m], x = xraw[i][m];
            if (m == M_CONV) {
                y = y > 0;
                x = x > 0;
            }
            if (m == M_REV) {
                y = y > cap ? cap : y;
                x = x > cap ? cap : x;
            }
            struct suff *s = &out[m][users[i].variant];
            s->n++;
            s->s += y;
            s->q += (long double)y * y;
            s->sx += x;
            s->qx += (long double)x * x;
            s->p += (long double)x * y;
        }
    }
}

static void compare_one(const char *what, const char *metric, const char *variant, double got,
                        long double want, bool exact)
{
    double w = (double)want;
    bool ok = exact ? got == w : fabs(got - w) <= 1e-9 * fmax(fabs(w), 1.0);
    if (!ok) {
        fail_msg("metric_stats %s/%s: %s = %.17g, expected %.17g", metric, variant, what, got, w);
    }
}

/* metric_stats of experiment "acc" against out. */
static void compare(struct suff want[NMETRICS][2])
{
    for (int m = 0; m < NMETRICS; m++) {
        for (int v = 0; v < 2; v++) {
            /* summed over rows: a shared database keeps one row per writer slot */
            double got[6];
            daemon_db_doubles(&D,
                              "SELECT SUM(n), SUM(s), SUM(q), SUM(sx), SUM(qx), SUM(p) FROM "
                              "metric_stats WHERE experiment = 'acc' AND metric = ?1 AND "
                              "variant = ?2",
                              got, 6, 2, METRIC_KEYS[m], VARIANTS[v]);
            const struct suff *w = &want[m][v];
            bool exact = m != M_REV;
            const char *mk = METRIC_KEYS[m], *vk = VARIANTS[v];
            assert_int_equal((long long)got[0], w->n);
            compare_one("s", mk, vk, got[1], w->s, exact);
            compare_one("q", mk, vk, got[2], w->q, exact);
            compare_one("sx", mk, vk, got[3], w->sx, exact);
            compare_one("qx", mk, vk, got[4], w->qx, exact);
            compare_one("p", mk, vk, got[5], w->p, exact);
        }
    }
}

/* ---- posting ---- */

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_addf(struct sb *b, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sb *b, const char *f, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, f);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, f, ap);
        va_end(ap);
        assert_true(n >= 0);
        if (b->p != NULL && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
}

static void user_name(int u, char *out, size_t n)
{
    if (u < NUSERS) {
        snprintf(out, n, "s%04d", u);
    } else {
        snprintf(out, n, "ghost-%d", u - NUSERS);
    }
}

static json_t *post_body(const char *path, const char *body)
{
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", path, SDK, body, &r), 0);
    if (r.status != 200) {
        fail_msg("POST %s: status %d: %s", path, r.status, r.body ? r.body : "");
    }
    json_t *j = resp_json(&r);
    resp_free(&r);
    return j;
}

/* Post events[list[0..n)] in batches; adds the reply counts to *accepted, *duplicates. */
static void post_events(const int *list, int n, long long *accepted, long long *duplicates)
{
    for (int at = 0; at < n; at += BATCH) {
        struct sb b = {0};
        sb_addf(&b, "{\"events\":[");
        for (int i = at; i < n && i < at + BATCH; i++) {
            const struct gen_event *e = &events[list[i]];
            char u[32];
            user_name(e->user, u, sizeof(u));
            sb_addf(&b, "%s{\"user_id\":\"%s\",\"event\":\"%s\",\"ts\":%lld", i > at ? "," : "", u,
                    EVENT_NAMES[e->name], e->ts);
            if (e->has_value) {
                sb_addf(&b, ",\"value\":%.17g", e->value);
            }
            if (e->id >= 0) {
                sb_addf(&b, ",\"id\":\"g%d\"", e->id);
            }
            sb_addf(&b, "}");
        }
        sb_addf(&b, "]}");
        json_t *j = post_body("/api/v1/events", b.p);
        *accepted += json_integer_value(json_object_get(j, "accepted"));
        *duplicates += json_integer_value(json_object_get(j, "duplicates"));
        json_decref(j);
        free(b.p);
    }
}

/* Post exposures in batches; *conflicts receives the sum of the replies' conflicts. */
static void post_exposures(const struct gen_expo *x, int n, long long *conflicts)
{
    for (int at = 0; at < n; at += BATCH) {
        struct sb b = {0};
        sb_addf(&b, "{\"exposures\":[");
        for (int i = at; i < n && i < at + BATCH; i++) {
            sb_addf(
                &b,
                "%s{\"experiment\":\"acc\",\"user_id\":\"s%04d\",\"variant\":\"%s\",\"ts\":%lld}",
                i > at ? "," : "", x[i].user, VARIANTS[x[i].variant], x[i].ts);
        }
        sb_addf(&b, "]}");
        json_t *j = post_body("/api/v1/exposures", b.p);
        *conflicts += json_integer_value(json_object_get(j, "conflicts"));
        assert_int_equal(json_integer_value(json_object_get(j, "ignored")), 0);
        json_decref(j);
        free(b.p);
    }
}

/* The conflicts the server must count for exposures posted in this order: an exposure
 * naming another variant than the one kept at that moment (the earliest so far). */
static long long expected_conflicts(void)
{
    static int kept_v[NEXPOSED];
    static long long kept_ts[NEXPOSED];
    for (int i = 0; i < NEXPOSED; i++) {
        kept_v[i] = -1;
    }
    long long conflicts = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct gen_expo *x = pass == 0 ? expo_a : expo_b;
        int n = pass == 0 ? nexpo_a : nexpo_b;
        for (int i = 0; i < n; i++) {
            int u = x[i].user;
            if (kept_v[u] < 0) {
                kept_v[u] = x[i].variant;
                kept_ts[u] = x[i].ts;
                continue;
            }
            conflicts += x[i].variant != kept_v[u];
            if (x[i].ts < kept_ts[u]) {
                kept_v[u] = x[i].variant;
                kept_ts[u] = x[i].ts;
            }
        }
    }
    return conflicts;
}

static long long db_int(const char *sql)
{
    return daemon_db_int(&D, sql, 0);
}

/* ---- the test ---- */

static void admin_ok(const char *method, const char *path, const char *body, int want)
{
    struct resp r;
    assert_int_equal(http_req(D.port, method, path, D.admin_key, body, &r), 0);
    if (r.status != want) {
        fail_msg("%s %s: status %d: %s", method, path, r.status, r.body ? r.body : "");
    }
    resp_free(&r);
}

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, NULL, SDK, sizeof(SDK)) != 0) {
        return -1;
    }
    NOW = (long long)time(NULL) * 1000;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void test_generated_statistics(void **state)
{
    (void)state;
    admin_ok("POST", "/api/v1/metrics",
             "{\"key\":\"conv\",\"event\":\"purchase\",\"type\":\"binomial\",\"window_hours\":72,"
             "\"cuped_lookback_hours\":336}",
             201);
    admin_ok("POST", "/api/v1/metrics",
             "{\"key\":\"clicks\",\"event\":\"click\",\"type\":\"count\",\"window_hours\":null,"
             "\"cuped_lookback_hours\":336}",
             201);
    admin_ok("POST", "/api/v1/metrics",
             fmt("{\"key\":\"rev\",\"event\":\"purchase\",\"type\":\"sum\",\"window_hours\":168,"
                 "\"cap\":%g,\"cuped_lookback_hours\":336}",
                 CAP_BEFORE),
             201);
    admin_ok("POST", "/api/v1/experiments",
             "{\"key\":\"acc\",\"variants\":[{\"key\":\"control\"},{\"key\":\"treatment\"}],"
             "\"metrics\":[\"conv\",\"clicks\",\"rev\"]}",
             201);
    admin_ok("POST", "/api/v1/experiments/acc/start", NULL, 200);

    gen_exposures();
    gen_events(0, NEVENTS);
    /* posting order: 40% of the events, exposures, 40% more, the late earlier exposures,
     * the rest with reposts of earlier ids and in-batch repeats, shuffled */
    int n1 = NEVENTS * 4 / 10, n2 = NEVENTS * 8 / 10;
    static int list[NEVENTS + NREPOSTS + 200];
    for (int k = 0; k < NEVENTS; k++) {
        list[k] = k;
    }
    int nlist = NEVENTS;
    for (int r = 0; r < NREPOSTS; r++) {
        int k;
        do {
            k = (int)rnd(NEVENTS);
        } while (events[k].id < 0);
        list[nlist++] = k;
    }
    for (int i = nlist - 1; i > n2; i--) {
        int j = n2 + (int)rnd(i - n2 + 1);
        int t = list[i];
        list[i] = list[j];
        list[j] = t;
    }
    for (int r = 0; r < 200; r++) { /* the same id twice in one batch */
        int k;
        do {
            k = n2 + (int)rnd(NEVENTS - n2);
        } while (events[k].id < 0);
        list[nlist++] = k;
    }
    long long accepted = 0, duplicates = 0, conflicts = 0;
    post_events(list, n1, &accepted, &duplicates);
    post_exposures(expo_a, nexpo_a, &conflicts);
    post_events(list + n1, n2 - n1, &accepted, &duplicates);
    post_exposures(expo_b, nexpo_b, &conflicts);
    post_events(list + n2, nlist - n2, &accepted, &duplicates);
    assert_int_equal(accepted, NEVENTS);
    assert_int_equal(duplicates, nlist - NEVENTS);
    assert_int_equal(db_int("SELECT COUNT(*) FROM events"), NEVENTS);
    assert_int_equal(conflicts, expected_conflicts());
    assert_int_equal(db_int("SELECT SUM(conflicts) FROM exposure_stats WHERE experiment = 'acc'"),
                     conflicts);
    long long in_b = 0;
    for (int i = 0; i < NEXPOSED; i++) {
        in_b += users[i].variant;
    }
    assert_int_equal(db_int("SELECT SUM(users) FROM exposure_stats WHERE experiment = 'acc' AND "
                            "variant = 'treatment'"),
                     in_b);
    assert_int_equal(db_int("SELECT SUM(users) FROM exposure_stats WHERE experiment = 'acc' AND "
                            "variant = 'control'"),
                     NEXPOSED - in_b);
    static struct suff want[NMETRICS][2];
    expected(NEVENTS, CAP_BEFORE, want);
    fprintf(stderr,
            "# %d users exposed, %lld conflicts, %d events (+%d repeats); conv %lld/%lld, "
            "rev S %.2Lf/%.2Lf\n",
            NEXPOSED, conflicts, NEVENTS, nlist - NEVENTS, (long long)want[M_CONV][0].s,
            (long long)want[M_CONV][1].s, want[M_REV][0].s, want[M_REV][1].s);
    compare(want);

    /* a new cap: the rebuild must match a recomputation with it */
    admin_ok("PATCH", "/api/v1/metrics/rev", fmt("{\"cap\":%g}", CAP_AFTER), 200);
    /* more users than one chunk: the rebuild runs beside ingestion (issue 12); wait for it */
    for (int i = 0; i < 600 && daemon_db_int(&D, "SELECT COUNT(*) FROM rollup_rebuilds", 0) > 0;
         i++) {
        usleep(50000);
    }
    assert_int_equal(daemon_db_int(&D, "SELECT COUNT(*) FROM rollup_rebuilds", 0), 0);
    expected(NEVENTS, CAP_AFTER, want);
    compare(want);
    /* and later events are attributed with the new cap */
    gen_events(NEVENTS, NEVENTS + NEXTRA);
    for (int k = 0; k < NEXTRA; k++) {
        list[k] = NEVENTS + k;
    }
    accepted = duplicates = 0;
    post_events(list, NEXTRA, &accepted, &duplicates);
    assert_int_equal(accepted, NEXTRA);
    expected(NEVENTS + NEXTRA, CAP_AFTER, want);
    compare(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_statistics),
    };
    return cmocka_run_group_tests_name("api_ingest_stats", tests, setup, teardown);
}
