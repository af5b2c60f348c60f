/*
 * The roll-ups' sums of squares after a value came and went (docs/STATISTICS.md "Numerics";
 * both backends: tests/pg/api.sh runs it on PostgreSQL).
 *
 * Q = sum y^2 (and CUPED's Qx, P) are double-doubles moved by deltas y1^2 - y0^2: a user whose
 * value passes 1e15 and comes back adds and takes away 1e30, after which a double-double kept
 * only ~0.01 of the other users' squares. Four users per variant of a sum metric, each with
 * 1e15, its value, -1e15 after the exposure and 1e15, its pre-period value, -1e15 in the
 * look-back (those arrive after the exposure too, so that they move the roll-ups), half of
 * them one event per request (the rows' sums pass 1e30) and half in one request (the
 * ingest call's sums do). Users 1 and 2 of each variant are "de", 3 and 4 "fr".
 * The results, without and with CUPED, the time series and the breakdown by country must
 * give what scipy gives on the users' values (tests' values from the script below, the CUPED
 * ones from exact rational arithmetic of the documented formulas), before and after the
 * roll-ups are rebuilt from the raw rows (which the first read asks for), and the rebuilt
 * rows no longer carry the mark of 1e30 (hwm, migration 0015).
 * Before: stddev 0.05 and 0.088 for 0.1 .. 0.6 (want 0.1), p off by half, and 200 users of
 * 0.1 .. 0.3 a standard deviation of 0.
 *
 *   ya = [0.1, 0.2, 0.3, 0.45]; yb = [0.4, 0.5, 0.6, 0.8]
 *   xa = [0.12, 0.18, 0.33, 0.41]; xb = [0.35, 0.52, 0.58, 0.77]
 *   np.std(ya, ddof=1), np.std(yb, ddof=1), per country likewise
 *   scipy.stats.ttest_ind(yb, ya, equal_var=False).pvalue, its standard error
 *   CUPED: theta = pooled Sxy / pooled Sxx, v = (Syy - 2 theta Sxy + theta^2 Sxx) / (n - 1),
 *   Welch on the adjusted values (Fractions of the doubles; /tmp/rev-stats-work/ref.py)
 */
#include "calls.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct daemon D;
static char sdk[64];
static int64_t t0;

#define HOUR   3600000LL
#define MINUTE 60000LL
#define NU     4 /* users per variant */

/* the rebuilds the reads ask for run in chunks of 2 users, 100 ms apart: reads see them */
static const char *const ARGS[] = {"--rebuild-chunk", "2", "--rebuild-pause-ms", "100", NULL};

static const double YA[NU] = {0.1, 0.2, 0.3, 0.45}, YB[NU] = {0.4, 0.5, 0.6, 0.8};
static const double XA[NU] = {0.12, 0.18, 0.33, 0.41}, XB[NU] = {0.35, 0.52, 0.58, 0.77};

/* scipy 1.10 (numpy std ddof=1, ttest_ind equal_var=False) */
#define STDDEV_A    0.14930394055974097
#define STDDEV_B    0.17078251276599332
#define WELCH_P     0.033674120262288207
#define WELCH_SE    0.11342214657346834
#define STDDEV_DE_A 0.070710678118654766
#define STDDEV_DE_B 0.070710678118654738
#define STDDEV_FR_A 0.10606601717798214
#define STDDEV_FR_B 0.14142135623730953
/* CUPED, exact arithmetic */
#define CUPED_THETA 1.0403873405762871
#define CUPED_SE    0.022186954681805635
#define CUPED_P     0.80962986169175333
#define CUPED_EST   0.0055857345299952848

static const char *user(char variant, int i)
{
    return fmt("%c%d", variant, i + 1);
}

static void expose(char variant, int i)
{
    json_decref(call_as(sdk, "POST", "/api/v1/exposures",
                        fmt("{\"exposures\":[{\"experiment\":\"qm\",\"user_id\":\"%s\","
                            "\"variant\":\"%c\",\"ts\":%lld,\"attributes\":{\"country\":\"%s\"}}]}",
                            user(variant, i), variant, (long long)t0, i < 2 ? "de" : "fr"),
                        200));
}

/* 1e15, v, -1e15 at t0 + offset, a minute apart: one request each, or one for the three. */
static void passage(char variant, int i, int64_t offset, double v, bool together)
{
    const double vals[3] = {1e15, v, -1e15};
    char body[1024];
    size_t at = (size_t)snprintf(body, sizeof(body), "{\"events\":[");
    for (int k = 0; k < 3; k++) {
        at += (size_t)snprintf(body + at, sizeof(body) - at,
                               "%s{\"user_id\":\"%s\",\"event\":\"qpay\",\"ts\":%lld,"
                               "\"value\":%.17g}",
                               at > 11 ? "," : "", user(variant, i),
                               (long long)(t0 + offset + k * MINUTE), vals[k]);
        if (!together || k == 2) {
            snprintf(body + at, sizeof(body) - at, "]}");
            json_decref(call_as(sdk, "POST", "/api/v1/events", body, 200));
            at = (size_t)snprintf(body, sizeof(body), "{\"events\":[");
        }
    }
}

static int setup(void **state)
{
    (void)state;
    if (harness_start_with_key(&D, ARGS, sdk, sizeof(sdk)) != 0) {
        return -1;
    }
    calls_use(&D);
    harness_metric(D.port, D.admin_key,
                   "{\"key\":\"qrev\",\"event\":\"qpay\",\"type\":\"sum\",\"window_hours\":48,"
                   "\"cuped_lookback_hours\":24}");
    harness_started_experiment(D.port, D.admin_key, "qm",
                               "{\"key\":\"qm\",\"variants\":[{\"key\":\"a\"},{\"key\":\"b\"}],"
                               "\"metrics\":[\"qrev\"],\"dimensions\":[\"country\"]}");
    t0 = harness_wall_ms() - 24 * HOUR;
    for (int i = 0; i < NU; i++) {
        expose('a', i);
        expose('b', i);
    }
    for (int i = 0; i < NU; i++) {
        bool together = i % 2 == 1;
        passage('a', i, HOUR, YA[i], together);
        passage('b', i, HOUR, YB[i], together);
        passage('a', i, -3 * HOUR, XA[i], !together);
        passage('b', i, -3 * HOUR, XB[i], !together);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(&D);
}

static void near(const json_t *got, double want, double rel, const char *what)
{
    if (!json_is_number(got)) {
        fail_msg("%s: not a number, want %.17g", what, want);
    }
    double g = json_number_value(got);
    if (!(fabs(g - want) <= rel * fabs(want))) {
        fail_msg("%s: got %.17g want %.17g (relative %.3g)", what, g, want,
                 fabs(g - want) / fabs(want));
    }
}

static const json_t *variant_of(const json_t *vars, const char *key)
{
    for (size_t i = 0; i < json_array_size(vars); i++) {
        const json_t *o = json_array_get(vars, i);
        if (strcmp(json_string_value(json_object_get(o, "key")), key) == 0) {
            return o;
        }
    }
    fail_msg("no variant %s", key);
    return NULL;
}

static const json_t *metric_variants(const json_t *doc)
{
    return json_object_get(json_array_get(json_object_get(doc, "metrics"), 0), "variants");
}

static void check_plain(const char *when)
{
    json_t *r = call("GET", "/api/v1/experiments/qm/results?cuped=false", NULL, 200);
    const json_t *vars = metric_variants(r);
    near(json_object_get(variant_of(vars, "a"), "stddev"), STDDEV_A, 1e-9, when);
    near(json_object_get(variant_of(vars, "b"), "stddev"), STDDEV_B, 1e-9, when);
    const json_t *b = variant_of(vars, "b");
    near(json_object_get(json_object_get(b, "absolute_lift"), "se"), WELCH_SE, 1e-9, when);
    near(json_object_get(b, "p_value"), WELCH_P, 1e-9, when);
    json_decref(r);
}

static void check_cuped(const char *when)
{
    json_t *r = call("GET", "/api/v1/experiments/qm/results?cuped=true", NULL, 200);
    const json_t *b = variant_of(metric_variants(r), "b");
    near(json_object_get(json_object_get(b, "cuped"), "theta"), CUPED_THETA, 1e-9, when);
    near(json_object_get(json_object_get(b, "absolute_lift"), "estimate"), CUPED_EST, 1e-9, when);
    near(json_object_get(json_object_get(b, "absolute_lift"), "se"), CUPED_SE, 1e-9, when);
    near(json_object_get(b, "p_value"), CUPED_P, 1e-9, when);
    json_decref(r);
}

/* the time series' last day holds every user: its lift without CUPED has the Welch standard
 * error (the series follows the analysis defaults, CUPED on, as the results do) */
static void check_series(const char *when)
{
    json_t *r = call("GET", "/api/v1/experiments/qm/timeseries?metric=qrev&cuped=false", NULL, 200);
    const json_t *days = json_object_get(r, "days");
    const json_t *last = json_array_get(days, json_array_size(days) - 1);
    const json_t *b = variant_of(json_object_get(last, "variants"), "b");
    near(json_object_get(json_object_get(b, "absolute_lift"), "se"), WELCH_SE, 1e-9, when);
    json_decref(r);
}

static void check_slices(const char *when)
{
    json_t *r =
        call("GET", "/api/v1/experiments/qm/results?dimension=country&cuped=false", NULL, 200);
    const json_t *slices = json_object_get(r, "slices");
    int seen = 0;
    for (size_t s = 0; s < json_array_size(slices); s++) {
        const json_t *sl = json_array_get(slices, s);
        const char *value = json_string_value(json_object_get(sl, "dimension_value"));
        bool de = strcmp(value, "de") == 0;
        if (!de && strcmp(value, "fr") != 0) {
            continue;
        }
        seen++;
        const json_t *vars = metric_variants(sl);
        near(json_object_get(variant_of(vars, "a"), "stddev"), de ? STDDEV_DE_A : STDDEV_FR_A, 1e-9,
             fmt("%s, %s", when, value));
        near(json_object_get(variant_of(vars, "b"), "stddev"), de ? STDDEV_DE_B : STDDEV_FR_B, 1e-9,
             fmt("%s, %s", when, value));
    }
    assert_int_equal(seen, 2);
    json_decref(r);
}

static void check_all(const char *when)
{
    check_plain(when);
    check_cuped(when);
    check_series(when);
    check_slices(when);
}

/* From the database: a results read would itself ask for a rebuild. */
static bool rebuilding(void)
{
    return daemon_db_int(&D, "SELECT COUNT(*) FROM rollup_rebuilds WHERE experiment = 'qm'", 0) > 0;
}

/* The largest mark of the experiment's rows of table. */
static double max_hwm(const char *table)
{
    double h = -1;
    daemon_db_doubles(&D, fmt("SELECT MAX(hwm) FROM %s WHERE experiment = 'qm'", table), &h, 1, 0);
    return h;
}

/* One reader first, on rows that went through 1e30 (it sums the users' values and asks for
 * the rebuild), then every reader while the rebuild runs (the kept rows went through it too)
 * and after it (the rebuilt rows, trusted). */
static void round_of(void (*first)(const char *), const char *name)
{
    assert_true(max_hwm("metric_stats") >= 1e30);
    assert_false(rebuilding());
    first(name);
    bool seen = false;
    for (int i = 0; i < 600 && (seen = rebuilding()) == false; i++) {
        sleep_ms(10);
    }
    if (!seen) {
        fail_msg("%s: no rebuild was asked for", name);
    }
    check_all(fmt("%s, while rebuilding", name));
    for (int i = 0; i < 600 && rebuilding(); i++) {
        sleep_ms(50);
    }
    assert_false(rebuilding());
    const char *tables[] = {"metric_stats", "metric_daily", "slice_stats"};
    for (int i = 0; i < 3; i++) {
        double h = max_hwm(tables[i]);
        if (!(h > 0 && h < 10)) {
            fail_msg("%s: %s has hwm %g after the rebuild", name, tables[i], h);
        }
    }
    check_all(fmt("%s, rebuilt", name));
}

static void test_moments_after_a_passage(void **state)
{
    (void)state;
    round_of(check_plain, "results");
    /* more passages (the values do not move): each reader first once */
    passage('a', 0, 2 * HOUR, 0, false);
    round_of(check_cuped, "cuped");
    passage('b', 3, 2 * HOUR, 0, true);
    round_of(check_series, "time series");
    passage('a', 2, -2 * HOUR, 0, false);
    round_of(check_slices, "slices");
}

/* Users of each variant of the metric in a results document. */
static void users_of(const json_t *doc, long long *a, long long *b)
{
    const json_t *vars = metric_variants(doc);
    *a = json_integer_value(json_object_get(variant_of(vars, "a"), "users"));
    *b = json_integer_value(json_object_get(variant_of(vars, "b"), "users"));
}

/* An archived experiment's rows are read as stored, whatever their marks: a passage after the
 * stop's rebuild (events from before the stop still count) marks them, and `bunsen compact`
 * removes the users' values of archived experiments, so summing those showed no users. */
static void test_archived_reads_stored_rows(void **state)
{
    (void)state;
    json_decref(call("POST", "/api/v1/experiments/qm/stop", NULL, 200));
    for (int i = 0; i < 600 && rebuilding(); i++) {
        sleep_ms(50);
    }
    assert_false(rebuilding());
    passage('a', 1, 3 * HOUR, 0, false);
    assert_true(max_hwm("metric_stats") >= 1e30);
    json_decref(call("POST", "/api/v1/experiments/qm/archive", NULL, 200));
    char *out = NULL;
    const char *args[] = {"compact", "--data-dir", D.dir, NULL};
    assert_int_equal(bunsen_run(&out, args), 0);
    free(out);
    assert_int_equal(
        daemon_db_int(&D, "SELECT COUNT(*) FROM user_metrics WHERE experiment = 'qm'", 0), 0);
    json_t *doc = call("GET", "/api/v1/experiments/qm/results", NULL, 200);
    long long a = -1, b = -1;
    users_of(doc, &a, &b);
    json_decref(doc);
    if (a != NU || b != NU) {
        fail_msg("archived and compacted: %lld and %lld users, want %d each", a, b, NU);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moments_after_a_passage),
        cmocka_unit_test(test_archived_reads_stored_rows),
    };
    return cmocka_run_group_tests_name("exact_moments", tests, setup, teardown);
}
