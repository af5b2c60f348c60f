/* Unit tests for src/api/results_ratio.c: a ratio metric's per-user sums into its arms and
 * statistics when the numerator is (nearly) proportional to the denominator; and, on a SQLite
 * store of its own, a ratio metric's sums when the compaction check fails (ratio_compacted: an
 * archived experiment whose sums count no user reads a page of its users and its exposure
 * roll-ups). The sums read before the failed check are freed by results_ratio_sums (rev-diff5 1:
 * its callers free them only after a 0; under `make asan` LeakSanitizer reports them when they are
 * not). */
#include "unit.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <math.h>

#include "../../src/api/results_int.h" /* results_ratio_sums: api/'s own, no public header */
#include "bunsen/model.h"
#include "bunsen/stats.h"
#include "bunsen/store.h"

static char dir[64];
static char path[128];

struct put {
    const char *body; /* the metric as a client creates it */
};

static int put_metric(struct store_tx *tx, void *arg, struct err *err)
{
    const struct put *p = arg;
    json_t *in = json_loads(p->body, 0, NULL);
    struct metric m;
    if (in == NULL || metric_from_json(in, MODEL_CREATE, NULL, &m, err) != 0) {
        json_decref(in);
        return -1;
    }
    json_decref(in);
    json_t *out = metric_to_json(&m);
    char *doc = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    int rc = store_metric_put(tx, m.key, doc, 1, 1, true, err);
    free(doc);
    return rc;
}

/* The compaction check's read of the exposure roll-ups fails (the table is gone under the
 * store): results_ratio_sums answers -1 with the reason, and leaks nothing. */
static void test_compacted_check_fails(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bunsen-ratio-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/bunsen.db", dir);
    struct store *s = NULL;
    struct err err;
    err_clear(&err);
    assert_int_equal(store_open(path, &s, &err), 0);
    assert_int_equal(store_migrate(s, NULL, &err), 0);
    assert_int_equal(store_writer_start(s, 16, &err), 0);
    static const struct put metrics[] = {
        {"{\"key\":\"m\",\"event\":\"buy\",\"type\":\"count\",\"cuped_lookback_hours\":0}"},
        {"{\"key\":\"v\",\"event\":\"view\",\"type\":\"count\",\"cuped_lookback_hours\":0}"},
        {"{\"key\":\"r\",\"type\":\"ratio\",\"numerator\":\"m\",\"denominator\":\"v\"}"},
    };
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        if (store_write_sync(s, put_metric, (void *)(uintptr_t)&metrics[i], &err) != 0) {
            fail_msg("metric %zu: %s", i, err.msg);
        }
    }
    json_t *doc = json_loads("{\"key\":\"arc\",\"name\":\"arc\",\"seed\":\"arc\",\"status\":"
                             "\"archived\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                             "\"metrics\":[\"r\"],\"created_at\":1,\"started_at\":2,"
                             "\"stopped_at\":3}",
                             0, NULL);
    struct experiment x;
    assert_int_equal(experiment_from_json(doc, MODEL_LOAD, NULL, &x, &err), 0);
    json_decref(doc);
    char *mdoc = NULL;
    assert_int_equal(store_metric_get(s, NULL, "r", &mdoc, &err), 0);
    json_t *mj = json_loads(mdoc, 0, NULL);
    free(mdoc);
    struct metric r;
    assert_int_equal(metric_from_json(mj, MODEL_LOAD, NULL, &r, &err), 0);
    json_decref(mj);

    /* the check runs: no user in the sums, none in the roll-ups either (not compacted) */
    struct results_ratio_sums sums;
    const char *unavailable = "unset";
    assert_int_equal(results_ratio_sums(s, &x, &r, NULL, &sums, &unavailable, &err), 0);
    assert_null(unavailable);
    assert_int_equal(sums.n, 1);
    results_ratio_sums_free(&sums);

    /* then its read fails: another process dropped the roll-up it reads last */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE exposure_stats", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    err_clear(&err);
    assert_int_equal(results_ratio_sums(s, &x, &r, NULL, &sums, &unavailable, &err), -1);
    assert_non_null(strstr(err.msg, "read exposures")); /* sqlite_exposure_by_variant */
    /* callers free the sums only after a 0 (results.c ratio_arms): nothing left to free */
    assert_null(sums.v);

    experiment_clear(&x);
    store_writer_stop(s);
    store_close(s);
    static const char *const files[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char f[160];
        snprintf(f, sizeof(f), "%s%s", path, files[i]);
        unlink(f);
    }
    rmdir(dir);
}

static uint64_t lcg(uint64_t *state, uint64_t span)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (*state >> 33) % span;
}

/* Two arms of users with den items each (1..10) and num = price * den + e: the sums as the
 * results read them (results_ratio_add, then results_ratio_arms_from_suff). */
static void ratio_arms_of(double price_a, double price_b, const double *noise, size_t nnoise,
                          uint64_t seed, struct experiment *x, struct arms *a)
{
    static struct metric num, den;
    num.type = STATS_METRIC_SUM;
    den.type = STATS_METRIC_COUNT;
    struct store_suff st[2];
    memset(st, 0, sizeof(st));
    for (int i = 0; i < 2000; i++) {
        double d = (double)(1 + lcg(&seed, 10));
        double e = noise[lcg(&seed, nnoise)];
        results_ratio_add(&st[i % 2], &num, &den, (i % 2 == 0 ? price_a : price_b) * d + e, d);
    }
    memset(a, 0, sizeof(*a));
    x->nvariants = 2;
    a->x = x;
    results_ratio_arms_from_suff(st, a);
}

/* num = price x den for every user: the per-user variance of the ratio is 0 (no interval, no
 * p-value, a warning), not rounding noise. In double the delta method's three terms left a
 * standard deviation of ~1e-7 and p = 0, "significant", for 9.99 against 10.99 a item
 * (review stats27 finding 1). */
static void test_ratio_proportional(void **state)
{
    (void)state;
    static const double none[] = {0};
    static const double prices[][2] = {{9.99, 10.99}, {0.1, 0.3}, {1e9 + 0.37, 1e9 + 0.41}};
    for (size_t k = 0; k < sizeof(prices) / sizeof(prices[0]); k++) {
        for (uint64_t seed = 1; seed <= 10; seed++) {
            struct experiment x;
            struct arms a;
            ratio_arms_of(prices[k][0], prices[k][1], none, 1, seed, &x, &a);
            struct stats_moments mo;
            struct err err;
            assert_int_equal(stats_ratio_moments(&a.rarm[0], &mo, &err), 0);
            if (!mo.variance.present || mo.variance.value != 0) {
                fail_msg("price %g seed %llu: variance %.17g, expected 0", prices[k][0],
                         (unsigned long long)seed, mo.variance.value);
            }
            assert_true(mo.mean.present && fabs(mo.mean.value / prices[k][0] - 1) < 1e-15);
            struct stats_config cfg;
            stats_config_default(&cfg);
            struct stats_comparison r;
            assert_int_equal(stats_compare_ratio(&cfg, &a.rarm[0], &a.rarm[1], &r, &err), 0);
            assert_false(r.absolute.p_value.present);
            assert_false(r.absolute.ci_lo.present);
            assert_false(r.relative.p_value.present);
            assert_non_null(strstr(r.warning, "zero standard error"));
        }
    }
}

/* num = K x den + e with e in {-0.5, 0, 0.5}: the per-user variance Var(num - R den)/md^2
 * from the small residuals (exact in long double here) against the daemon's, which forms it
 * from sums of squares of ~K^2: for K = 1e6 the double formula was 2.5% off, for 1e9 it was 0. */
static void test_ratio_large_scale(void **state)
{
    (void)state;
    static const double noise[] = {-0.5, 0, 0.5};
    static const double scales[] = {1e3, 1e6, 1e9};
    for (size_t k = 0; k < sizeof(scales) / sizeof(scales[0]); k++) {
        struct experiment x;
        struct arms a;
        ratio_arms_of(scales[k], scales[k], noise, 3, 42, &x, &a);
        /* the same users again, for the exact figure */
        uint64_t seed = 42;
        long double se = 0, sd = 0, n = 0;
        long double ee[1000], dd[1000];
        for (int i = 0; i < 2000; i++) {
            long double d = (long double)(1 + lcg(&seed, 10));
            long double e = (long double)noise[lcg(&seed, 3)];
            if (i % 2 == 0) {
                ee[i / 2] = e;
                dd[i / 2] = d;
                se += e;
                sd += d;
                n += 1;
            }
        }
        long double r = se / sd, md = sd / n, ss = 0;
        for (int i = 0; i < 1000; i++) {
            long double u = ee[i] - r * dd[i];
            ss += u * u;
        }
        long double want = ss / (n - 1) / (md * md);
        struct stats_moments mo;
        struct err err;
        assert_int_equal(stats_ratio_moments(&a.rarm[0], &mo, &err), 0);
        double rel = mo.variance.present ? fabs((double)((mo.variance.value - want) / want)) : 1;
        if (rel > 1e-9) {
            fail_msg("K = %g: variance %.17g, exact %.17Lg (relative error %.3g)", scales[k],
                     mo.variance.present ? mo.variance.value : NAN, want, rel);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratio_proportional),
        cmocka_unit_test(test_ratio_large_scale),
        cmocka_unit_test(test_compacted_check_fails),
    };
    return cmocka_run_group_tests_name("results_ratio", tests, NULL, NULL);
}
