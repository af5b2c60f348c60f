/*
 * End-to-end results: create metrics and experiments, start them, ingest exposures and
 * events over HTTP whose sufficient statistics reproduce cases of the scipy/statsmodels
 * fixtures (tests/fixtures/stats_reference.json), and check that GET .../results returns
 * the reference numbers (1e-6 relative + 1e-9 absolute). Also: GrowthBook's published
 * binomial example, CUPED from real pre-period events, SRM, CSV, time series, power,
 * parameter validation and results frozen at stop; under a correction, the adjusted
 * intervals beside the verdicts (API and `bunsen results --format table`).
 */
#include "harness.h"
#include "results_csv.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURES "tests/fixtures/stats_reference.json"

static struct daemon D;
static json_t *fixtures;
static long long now_ms;

static int setup(void **state)
{
    (void)state;
    fixtures = json_load_file(FIXTURES, 0, NULL);
    now_ms = harness_wall_ms();
    return fixtures != NULL && daemon_start(&D, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(fixtures);
    return harness_stop(&D);
}

static const json_t *fixture(const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(fixtures, "comparisons"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0) {
            return c;
        }
    }
    fail_msg("fixture %s missing", name);
    return NULL;
}

static void post_ok(const char *path, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", path, D.admin_key, text, &r), 0);
    if (r.status != 200 && r.status != 201) {
        fail_msg("POST %s -> %d %s", path, r.status, r.body);
    }
    resp_free(&r);
    free(text);
}

static void make_metric(const char *key, const char *type)
{
    post_ok("/api/v1/metrics", json_pack("{s:s, s:s, s:s, s:n}", "key", key, "event", key, "type",
                                         type, "window_hours"));
}

/* An experiment with the given variant weights, started. */
static void make_experiment(const char *key, const char *metric, const double *w, int nv)
{
    json_t *vars = json_array();
    for (int i = 0; i < nv; i++) {
        json_array_append_new(vars, json_pack("{s:s, s:f}", "key", fmt("v%d", i), "weight", w[i]));
    }
    post_ok("/api/v1/experiments",
            json_pack("{s:s, s:o, s:[s]}", "key", key, "variants", vars, "metrics", metric));
    post_ok(fmt("/api/v1/experiments/%s/start", key), json_object());
}

/* Users u<arm>-0..n-1 exposed at t0 to variant v<arm>; the first s convert (event at
 * t0 + 1 h). With pre (>= 0): the first pre users of the converters... see cuped helper. */
static void ingest_binomial_arm(const char *exp, const char *metric, int arm, int n, int s)
{
    long long t0 = now_ms - 2LL * 86400000;
    for (int start = 0; start < n; start += 5000) {
        json_t *ex = json_array(), *ev = json_array();
        for (int i = start; i < n && i < start + 5000; i++) {
            const char *uid = fmt("%s-u%d-%d", exp, arm, i);
            json_array_append_new(ex,
                                  json_pack("{s:s, s:s, s:s, s:I}", "experiment", exp, "user_id",
                                            uid, "variant", fmt("v%d", arm), "ts", (json_int_t)t0));
            if (i < s) {
                json_array_append_new(ev, json_pack("{s:s, s:s, s:I}", "user_id", uid, "event",
                                                    metric, "ts", (json_int_t)(t0 + 3600000)));
            }
        }
        post_ok("/api/v1/exposures", json_pack("{s:o}", "exposures", ex));
        if (json_array_size(ev) > 0) {
            post_ok("/api/v1/events", json_pack("{s:o}", "events", ev));
        } else {
            json_decref(ev);
        }
    }
}

static json_t *results(const char *exp, const char *query)
{
    int st = 0;
    json_t *j = http_json(D.port, "GET", fmt("/api/v1/experiments/%s/results?%s", exp, query),
                          D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    return j;
}

static void near(const json_t *got, const json_t *want, const char *what)
{
    if (json_is_null(want)) {
        if (!json_is_null(got)) {
            fail_msg("%s: expected null, got a value", what);
        }
        return;
    }
    if (!json_is_number(got)) {
        fail_msg("%s: expected %.10g, got null/none", what, json_number_value(want));
    }
    double g = json_number_value(got), w = json_number_value(want);
    if (fabs(g - w) > 1e-6 * fabs(w) + 1e-9) {
        fail_msg("%s: got %.12g, want %.12g", what, g, w);
    }
}

static void near_d(const json_t *got, double want, const char *what)
{
    json_t *w = json_real(want);
    near(got, w, what);
    json_decref(w);
}

static const json_t *treatment(const json_t *res, size_t metric, size_t variant)
{
    return json_array_get(
        json_object_get(json_array_get(json_object_get(res, "metrics"), metric), "variants"),
        variant);
}

static const json_t *ci(const json_t *v, const char *lift, size_t i)
{
    const json_t *c = json_object_get(json_object_get(v, lift), "ci");
    return json_is_array(c) ? json_array_get(c, i) : json_null();
}

/* Compare a treatment entry with a fixture's expected block. */
static void check_against(const json_t *v, const json_t *e, const char *method)
{
    near(json_object_get(json_object_get(v, "absolute_lift"), "estimate"),
         json_object_get(e, "abs_estimate"), "abs_estimate");
    near(json_object_get(json_object_get(v, "relative_lift"), "estimate"),
         json_object_get(e, "rel_estimate"), "rel_estimate");
    near(ci(v, "absolute_lift", 0), json_object_get(e, "abs_ci_lo"), "abs_ci_lo");
    near(ci(v, "absolute_lift", 1), json_object_get(e, "abs_ci_hi"), "abs_ci_hi");
    near(ci(v, "relative_lift", 0), json_object_get(e, "rel_ci_lo"), "rel_ci_lo");
    near(ci(v, "relative_lift", 1), json_object_get(e, "rel_ci_hi"), "rel_ci_hi");
    if (strcmp(method, "bayesian") == 0) {
        near(json_object_get(v, "chance_to_beat_control"), json_object_get(e, "chance"), "chance");
        near(json_object_get(v, "expected_loss"), json_object_get(e, "loss"), "loss");
    } else {
        near(json_object_get(v, "p_value"), json_object_get(e, "abs_p_value"), "p_value");
        near(json_object_get(json_object_get(v, "relative_lift"), "p_value"),
             json_object_get(e, "rel_p_value"), "rel_p_value");
        if (json_object_get(v, "z_test") != NULL) {
            near(json_object_get(json_object_get(v, "z_test"), "z"), json_object_get(e, "z"), "z");
        }
    }
}

static void test_winner_all_methods(void **state)
{
    (void)state;
    make_metric("conv", "binomial");
    const double w[] = {0.5, 0.5};
    make_experiment("winner", "conv", w, 2);
    const json_t *f = fixture("winner_binomial_frequentist");
    ingest_binomial_arm("winner", "conv", 0,
                        (int)json_integer_value(json_object_get(json_object_get(f, "a"), "n")),
                        (int)json_real_value(json_object_get(json_object_get(f, "a"), "s")));
    ingest_binomial_arm("winner", "conv", 1,
                        (int)json_integer_value(json_object_get(json_object_get(f, "b"), "n")),
                        (int)json_real_value(json_object_get(json_object_get(f, "b"), "s")));
    const char *cases[][2] = {{"winner_binomial_frequentist", "frequentist"},
                              {"winner_binomial_bayesian", "bayesian"},
                              {"winner_binomial_sequential", "sequential"}};
    for (int i = 0; i < 3; i++) {
        json_t *res = results("winner", fmt("method=%s&cuped=false", cases[i][1]));
        const json_t *v = treatment(res, 0, 1);
        assert_int_equal(json_integer_value(json_object_get(v, "users")), 10000);
        check_against(v, json_object_get(fixture(cases[i][0]), "expected"), cases[i][1]);
        assert_true(json_is_true(json_object_get(res, "always_valid")) == (i == 2));
        if (i != 1) {
            assert_true(json_is_true(json_object_get(v, "significant")));
        }
        json_decref(res);
    }
}

/* Under bayesian the verdict follows the relative interval shown beside it: 1,000 / 10,000
 * against 1,078 / 10,000 has a chance to beat control of 0.965 (above 1 - alpha, so
 * `significant`), but a 95% relative interval of [-0.0098, 0.166] holding 0: the verdict is
 * "flat" (it said "win" beside that interval). */
static void test_bayesian_verdict_interval(void **state)
{
    (void)state;
    const double w[] = {0.5, 0.5};
    make_experiment("bayes-edge", "conv", w, 2);
    ingest_binomial_arm("bayes-edge", "conv", 0, 10000, 1000);
    ingest_binomial_arm("bayes-edge", "conv", 1, 10000, 1078);
    json_t *res = results("bayes-edge", "method=bayesian&cuped=false");
    const json_t *v = treatment(res, 0, 1);
    assert_true(fabs(json_real_value(json_object_get(v, "chance_to_beat_control")) - 0.9646) <
                5e-4);
    assert_true(json_is_true(json_object_get(v, "significant")));
    assert_true(json_real_value(ci(v, "relative_lift", 0)) < 0);
    assert_true(json_real_value(ci(v, "relative_lift", 1)) > 0);
    assert_true(json_is_false(json_object_get(json_object_get(v, "relative_lift"), "significant")));
    assert_string_equal(json_string_value(json_object_get(v, "verdict")), "flat");
    json_decref(res);
}

static void test_growthbook_published(void **state)
{
    (void)state;
    const double w[] = {0.5, 0.5};
    make_experiment("gb-example", "conv", w, 2);
    ingest_binomial_arm("gb-example", "conv", 0, 28, 14);
    ingest_binomial_arm("gb-example", "conv", 1, 30, 16);
    json_t *res = results("gb-example", "method=frequentist&cuped=false");
    const json_t *v = treatment(res, 0, 1);
    const json_t *rel = json_object_get(v, "relative_lift");
    assert_true(fabs(json_real_value(json_object_get(rel, "estimate")) - 0.06667) < 5e-6);
    assert_true(fabs(json_real_value(ci(v, "relative_lift", 0)) - -0.47767) < 5e-6);
    assert_true(fabs(json_real_value(ci(v, "relative_lift", 1)) - 0.61101) < 5e-6);
    assert_true(fabs(json_real_value(json_object_get(rel, "p_value")) - 0.80707) < 5e-6);
    assert_true(fabs(json_real_value(json_object_get(v, "df")) - 55.707) < 5e-4);
    json_decref(res);
}

static void test_zero_control_and_weights(void **state)
{
    (void)state;
    const json_t *f = fixture("zero_conversion_control");
    const double w[] = {0.5, 0.5};
    make_experiment("zero-control", "conv", w, 2);
    ingest_binomial_arm("zero-control", "conv", 0, 1000, 0);
    ingest_binomial_arm("zero-control", "conv", 1, 1000, 26);
    json_t *res = results("zero-control", "method=frequentist&cuped=false");
    const json_t *v = treatment(res, 0, 1);
    check_against(v, json_object_get(f, "expected"), "frequentist");
    assert_true(json_is_null(json_object_get(json_object_get(v, "relative_lift"), "estimate")));
    assert_true(json_is_string(json_object_get(v, "warning")));
    json_decref(res);

    f = fixture("weights_20_80");
    const double w2[] = {0.2, 0.8};
    make_experiment("weights", "conv", w2, 2);
    ingest_binomial_arm("weights", "conv", 0, 2000, 102);
    ingest_binomial_arm("weights", "conv", 1, 8000, 485);
    res = results("weights", "method=frequentist&cuped=false");
    check_against(treatment(res, 0, 1), json_object_get(f, "expected"), "frequentist");
    /* the split matches the 20/80 weights exactly: no SRM */
    const json_t *srm = json_object_get(res, "srm");
    assert_false(json_is_true(json_object_get(srm, "mismatch")));
    json_t *one = json_real(1.0);
    near(json_object_get(srm, "p_value"), one, "srm p");
    json_decref(one);
    json_decref(res);
}

/* No relative test, no verdict: 0 of 40 against 10 of 40 is a relative lift of exactly -1
 * with a standard error of 0 (its interval and p-value null, a warning says why) while the
 * absolute lift is significant (p 0.00076), and one user per arm has no interval at all:
 * "none" under every method and correction, never "flat" (which claims a test). */
static void test_verdict_without_relative_test(void **state)
{
    (void)state;
    const double w[] = {0.5, 0.5};
    make_experiment("rel-none", "conv", w, 2);
    ingest_binomial_arm("rel-none", "conv", 0, 40, 10);
    ingest_binomial_arm("rel-none", "conv", 1, 40, 0);
    make_experiment("one-each", "conv", w, 2);
    ingest_binomial_arm("one-each", "conv", 0, 1, 1);
    ingest_binomial_arm("one-each", "conv", 1, 1, 0);
    const char *queries[] = {"method=frequentist&cuped=false",
                             "method=frequentist&cuped=false&correction=holm",
                             "method=sequential&cuped=false", "method=bayesian&cuped=false"};
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        json_t *res = results("rel-none", queries[q]);
        const json_t *v = treatment(res, 0, 1);
        const json_t *rel = json_object_get(v, "relative_lift");
        near_d(json_object_get(rel, "estimate"), -1.0, "relative estimate");
        assert_true(json_is_null(json_object_get(rel, "ci")));
        if (strcmp(queries[q], "method=frequentist&cuped=false") == 0) {
            assert_true(json_is_true(json_object_get(v, "significant")));
        }
        if (strcmp(json_string_value(json_object_get(v, "verdict")), "none") != 0) {
            fail_msg("rel-none, %s: verdict %s", queries[q],
                     json_string_value(json_object_get(v, "verdict")));
        }
        json_decref(res);
        res = results("one-each", queries[q]);
        v = treatment(res, 0, 1);
        if (strcmp(json_string_value(json_object_get(v, "verdict")), "none") != 0) {
            fail_msg("one-each, %s: verdict %s", queries[q],
                     json_string_value(json_object_get(v, "verdict")));
        }
        json_decref(res);
    }
}

/* CUPED on a binomial metric from real pre-period events: reproduce the fixture's
 * (n, S, Sx, P) with users in four groups by (pre-period conversion, conversion). */
static void ingest_cuped_arm(const char *exp, int arm, const json_t *a)
{
    int n = (int)json_integer_value(json_object_get(a, "n"));
    int s = (int)json_real_value(json_object_get(a, "s"));
    int sx = (int)json_real_value(json_object_get(a, "sx"));
    int p = (int)json_real_value(json_object_get(a, "p"));
    long long t0 = now_ms - 2LL * 86400000;
    json_t *ex = json_array(), *ev = json_array();
    for (int i = 0; i < n; i++) {
        bool x = i < sx;                                 /* users 0..sx-1 converted before */
        bool y = i < p || (i >= sx && i < sx + (s - p)); /* p of them convert again */
        const char *uid = fmt("%s-u%d-%d", exp, arm, i);
        json_array_append_new(ex, json_pack("{s:s, s:s, s:s, s:I}", "experiment", exp, "user_id",
                                            uid, "variant", fmt("v%d", arm), "ts", (json_int_t)t0));
        if (x) {
            json_array_append_new(ev, json_pack("{s:s, s:s, s:I}", "user_id", uid, "event", "conv",
                                                "ts", (json_int_t)(t0 - 3600000)));
        }
        if (y) {
            json_array_append_new(ev, json_pack("{s:s, s:s, s:I}", "user_id", uid, "event", "conv",
                                                "ts", (json_int_t)(t0 + 3600000)));
        }
        if (json_array_size(ex) == 5000 || i == n - 1) {
            post_ok("/api/v1/exposures", json_pack("{s:o}", "exposures", ex));
            ex = json_array();
        }
        if (json_array_size(ev) >= 5000 || i == n - 1) {
            post_ok("/api/v1/events", json_pack("{s:o}", "events", ev));
            ev = json_array();
        }
    }
    json_decref(ex);
    json_decref(ev);
}

static void test_cuped_from_events(void **state)
{
    (void)state;
    const json_t *f = fixture("cuped_binomial");
    const double w[] = {0.5, 0.5};
    /* events first: the pre-period events exist before the exposures arrive, as in life */
    make_experiment("cuped", "conv", w, 2);
    ingest_cuped_arm("cuped", 0, json_object_get(f, "a"));
    ingest_cuped_arm("cuped", 1, json_object_get(f, "b"));
    json_t *res = results("cuped", "method=frequentist&cuped=true");
    const json_t *v = treatment(res, 0, 1);
    const json_t *e = json_object_get(f, "expected");
    check_against(v, e, "frequentist");
    near(json_object_get(json_object_get(v, "cuped"), "theta"), json_object_get(e, "theta"),
         "theta");
    near(json_object_get(json_object_get(v, "cuped"), "variance_reduction"),
         json_object_get(e, "variance_reduction"), "variance_reduction");
    json_decref(res);
}

/* The last day (cumulative) of experiment's time series of metric: its second variant's
 * entry, borrowed from *ts (json_decref it). */
static const json_t *timeseries_last(const char *experiment, const char *metric, json_t **ts)
{
    int st;
    *ts = http_json(D.port, "GET",
                    fmt("/api/v1/experiments/%s/timeseries?metric=%s", experiment, metric),
                    D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    json_t *days = json_object_get(*ts, "days");
    assert_true(json_array_size(days) >= 1);
    json_t *last = json_array_get(days, json_array_size(days) - 1);
    return json_array_get(json_object_get(last, "variants"), 1);
}

static void test_csv_timeseries_power_errors(void **state)
{
    (void)state;
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/api/v1/experiments/winner/results?format=csv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    char ct[64];
    assert_true(resp_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "text/csv; charset=utf-8");
    assert_int_equal(strncmp(r.body, "experiment,metric,type,goal,variant,users,", 42), 0);
    int lines = 0;
    for (const char *p = r.body; (p = strstr(p, "\r\n")) != NULL; p += 2) {
        lines++;
    }
    assert_int_equal(lines, 3); /* header + 1 metric x 2 variants */
    resp_free(&r);
    /* Accept: text/csv works too */
    const char *raw =
        fmt("GET /api/v1/experiments/winner/results HTTP/1.1\r\nHost: x\r\n"
            "Authorization: Bearer %s\r\nAccept: text/csv\r\nConnection: close\r\n\r\n",
            D.admin_key);
    assert_int_equal(http_raw(D.port, raw, strlen(raw), &r), 0);
    assert_int_equal(strncmp(r.body, "experiment,", 11), 0);
    resp_free(&r);

    json_t *ts;
    const json_t *lv = timeseries_last("winner", "conv", &ts);
    assert_int_equal(json_integer_value(json_object_get(lv, "users")), 10000);
    json_t *mean = json_real(0.1127);
    near(json_object_get(lv, "mean"), mean, "cumulative mean");
    json_decref(mean);
    json_decref(ts);
    int st;
    json_decref(http_json(D.port, "GET", "/api/v1/experiments/winner/timeseries?metric=nope",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 400);

    json_t *pw = http_json(D.port, "POST", "/api/v1/power", D.admin_key,
                           "{\"metric_type\": \"binomial\", \"baseline\": 0.10, \"mde\": 0.01, "
                           "\"relative\": false, \"alpha\": 0.05, \"power\": 0.8, \"variants\": 2, "
                           "\"daily_users\": 2000}",
                           &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(pw, "users_per_variant")), 14751);
    assert_int_equal(json_integer_value(json_object_get(pw, "total_users")), 29502);
    assert_int_equal(json_integer_value(json_object_get(pw, "days")), 15);
    json_decref(pw);
    json_decref(http_json(D.port, "POST", "/api/v1/power", D.admin_key,
                          "{\"metric_type\": \"binomial\", \"baseline\": 1.5, \"mde\": 0.01}",
                          &st));
    assert_int_equal(st, 400);
    /* an alpha whose t quantile GSL cannot invert at small n (it answered 500, "power
     * computation failed"): the least n as R's power.t.test (mpmath: 52 has power 0.9956,
     * 51 has 0.7091; test_stats test_power_tiny_alpha) */
    pw = http_json(D.port, "POST", "/api/v1/power", D.admin_key,
                   "{\"metric_type\":\"mean\",\"baseline\":100,\"mde\":200,\"stddev\":0.1,"
                   "\"alpha\":1e-300,\"power\":0.8}",
                   &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(pw, "users_per_variant")), 52);
    json_decref(pw);

    const char *bad[] = {"method=magic", "alpha=2",      "alpha=abc",
                         "cuped=maybe",  "correction=x", "format=xml"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_decref(http_json(D.port, "GET", fmt("/api/v1/experiments/winner/results?%s", bad[i]),
                              D.admin_key, NULL, &st));
        assert_int_equal(st, 400);
    }
    json_decref(
        http_json(D.port, "GET", "/api/v1/experiments/nope/results", D.admin_key, NULL, &st));
    assert_int_equal(st, 404);
}

/* The decision counts the variants that receive users: an empty variant of weight 0 held
 * users_smallest_variant and progress at 0 for as long as the experiment ran. */
static void test_decision_weight_zero(void **state)
{
    (void)state;
    const double w[] = {0.5, 0.5, 0};
    make_experiment("w-zero", "conv", w, 3);
    ingest_binomial_arm("w-zero", "conv", 0, 200, 20);
    ingest_binomial_arm("w-zero", "conv", 1, 150, 18);
    json_t *res = results("w-zero", "cuped=false");
    const json_t *d = json_object_get(res, "decision");
    assert_int_equal(json_integer_value(json_object_get(d, "users_smallest_variant")), 150);
    assert_int_equal(json_integer_value(json_object_get(d, "users_so_far")), 350);
    assert_true(json_number_value(json_object_get(d, "progress")) > 0);
    json_decref(res);
    /* the time series says why the empty variant's lifts are null, as results do */
    json_t *ts;
    timeseries_last("w-zero", "conv", &ts);
    const json_t *days = json_object_get(ts, "days");
    const json_t *empty = json_array_get(
        json_object_get(json_array_get(days, json_array_size(days) - 1), "variants"), 2);
    assert_true(json_is_null(json_object_get(json_object_get(empty, "absolute_lift"), "estimate")));
    assert_non_null(json_string_value(json_object_get(empty, "warning")));
    json_decref(ts);
    /* paused: no projection (no users arrive; the rate from before promised a date) */
    int st = 0;
    json_decref(
        http_json(D.port, "POST", "/api/v1/experiments/w-zero/pause", D.admin_key, NULL, &st));
    assert_int_equal(st, 200);
    res = results("w-zero", "cuped=false");
    d = json_object_get(res, "decision");
    assert_true(json_is_null(json_object_get(d, "days_left")));
    assert_non_null(strstr(json_string_value(json_object_get(d, "warning")), "paused"));
    json_decref(res);
    json_t *x = http_json(D.port, "GET", "/api/v1/experiments/w-zero", D.admin_key, NULL, &st);
    int64_t paused_at = json_integer_value(json_object_get(x, "paused_at"));
    assert_true(paused_at > 0);
    json_decref(x);
    usleep(30000);
    json_decref(
        http_json(D.port, "POST", "/api/v1/experiments/w-zero/resume", D.admin_key, NULL, &st));
    assert_int_equal(st, 200);
    /* the pause is recorded (at least the 30 ms slept), and the rate leaves it out: a run
     * of 10 days with 4 days paused is 6 days running, 350 users are 58.3 a day */
    x = http_json(D.port, "GET", "/api/v1/experiments/w-zero", D.admin_key, NULL, &st);
    assert_true(json_is_null(json_object_get(x, "paused_at")));
    int64_t paused_ms = json_integer_value(json_object_get(x, "paused_ms"));
    int64_t started_at = json_integer_value(json_object_get(x, "started_at"));
    assert_true(paused_ms >= 30);
    json_decref(x);
    assert_int_equal(daemon_stop(&D), 0);
    daemon_db_exec(&D,
                   fmt("UPDATE experiments SET doc = replace(replace(doc, '\"started_at\":%lld', "
                       "'\"started_at\":%lld'), '\"paused_ms\":%lld', '\"paused_ms\":%lld') "
                       "WHERE key = 'w-zero'",
                       (long long)started_at, (long long)(started_at - 10 * 86400000LL),
                       (long long)paused_ms, (long long)(paused_ms + 4 * 86400000LL)),
                   0);
    assert_int_equal(daemon_restart(&D, NULL), 0);
    res = results("w-zero", "cuped=false");
    d = json_object_get(res, "decision");
    assert_int_equal(json_integer_value(json_object_get(d, "days_running")), 6);
    double rate = json_number_value(json_object_get(d, "users_per_day"));
    assert_true(fabs(rate * 6 / 350 - 1) < 1e-3); /* 6 days and the seconds this test ran */
    assert_true(json_integer_value(json_object_get(d, "days_left")) > 0);
    json_decref(res);
}

/* The decision plans a metric with goal "decrease" for a decrease of the mde (the binomial
 * sample size is not symmetric: it planned an increase). */
static void test_decision_decrease(void **state)
{
    (void)state;
    post_ok("/api/v1/metrics", json_pack("{s:s, s:s, s:s, s:s}", "key", "churn", "event", "churn",
                                         "type", "binomial", "goal", "decrease"));
    const double w[] = {0.5, 0.5};
    make_experiment("down", "churn", w, 2);
    ingest_binomial_arm("down", "churn", 0, 400, 120);
    ingest_binomial_arm("down", "churn", 1, 400, 110);
    json_t *res = results("down", "cuped=false");
    const json_t *d = json_object_get(res, "decision");
    double p1 = json_number_value(json_object_get(treatment(res, 0, 0), "mean"));
    int st;
    json_t *pw = http_json(D.port, "POST", "/api/v1/power", D.admin_key,
                           fmt("{\"metric_type\": \"binomial\", \"baseline\": %.17g, "
                               "\"mde\": -0.05, \"relative\": true}",
                               p1),
                           &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(d, "users_needed_per_variant")),
                     json_integer_value(json_object_get(pw, "users_per_variant")));
    json_decref(pw);
    json_decref(res);
}

/* v1.1: the relative verdict, "decision", the complete CSV and the time series as CSV. */
static void test_decision_verdict_csv(void **state)
{
    (void)state;
    json_t *res = results("winner", "cuped=false&correction=holm");
    const json_t *v = treatment(res, 0, 1);
    const json_t *rel = json_object_get(v, "relative_lift");
    assert_true(json_is_true(json_object_get(rel, "significant")));
    assert_true(json_is_number(json_object_get(rel, "p_value_adjusted")));
    assert_string_equal(json_string_value(json_object_get(v, "verdict")), "win");
    /* decision: the same answer as POST /power from the control's observed rate */
    const json_t *d = json_object_get(res, "decision");
    assert_true(json_is_object(d));
    assert_string_equal(json_string_value(json_object_get(d, "metric")), "conv");
    near_d(json_object_get(d, "mde"), 0.05, "default mde");
    double p1 = json_number_value(json_object_get(treatment(res, 0, 0), "mean"));
    int st;
    json_t *pw = http_json(D.port, "POST", "/api/v1/power", D.admin_key,
                           fmt("{\"metric_type\": \"binomial\", \"baseline\": %.17g, "
                               "\"mde\": 0.05, \"relative\": true}",
                               p1),
                           &st);
    assert_int_equal(st, 200);
    json_int_t need = json_integer_value(json_object_get(d, "users_needed_per_variant"));
    assert_int_equal(need, json_integer_value(json_object_get(pw, "users_per_variant")));
    json_decref(pw);
    assert_int_equal(json_integer_value(json_object_get(d, "users_so_far")), 20000);
    near_d(json_object_get(d, "progress"), fmin(1.0, 10000.0 / (double)need), "progress");
    assert_true(json_is_null(json_object_get(d, "days_left"))); /* started less than a day ago */
    assert_true(json_is_string(json_object_get(d, "warning")));

    /* CSV: every JSON field of a treatment has its column, every row has every column */
    struct resp r;
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/winner/results?format=csv&cuped=true&"
                              "method=bayesian",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *need_cols[] = {"absolute_se",
                               "relative_se",
                               "relative_p_value",
                               "relative_p_value_adjusted",
                               "relative_significant",
                               "verdict",
                               "df",
                               "z",
                               "z_p_value",
                               "cuped_theta",
                               "cuped_variance_reduction",
                               "chance_to_beat_control",
                               "expected_loss",
                               "srm_p_value",
                               "srm_chi2",
                               "srm_mismatch",
                               "srm_observed",
                               "srm_expected",
                               "method",
                               "alpha",
                               "correction",
                               "conflicting_exposures",
                               "decision_users_needed_per_variant",
                               "decision_days_left"};
    char *eol = strstr(r.body, "\r\n");
    assert_non_null(eol);
    char *header = strndup(r.body, (size_t)(eol - r.body));
    for (size_t i = 0; i < sizeof(need_cols) / sizeof(need_cols[0]); i++) {
        char *pat = strdup(fmt(",%s,", need_cols[i]));
        char *padded = strdup(fmt(",%s,", header));
        if (strstr(padded, pat) == NULL) {
            fail_msg("CSV header lacks %s", need_cols[i]);
        }
        free(pat);
        free(padded);
    }
    int commas_header = 0;
    for (const char *p = header; *p; p++) {
        commas_header += *p == ',';
    }
    /* rows: same number of fields (no quoted commas in this data) */
    const char *row = eol + 2;
    int rows = 0;
    while (*row) {
        const char *end = strstr(row, "\r\n");
        assert_non_null(end);
        int commas = 0;
        for (const char *p = row; p < end; p++) {
            commas += *p == ',';
        }
        assert_int_equal(commas, commas_header);
        rows++;
        row = end + 2;
    }
    assert_int_equal(rows, 2);
    free(header);
    resp_free(&r);
    /* every field of the JSON has its column and its value, whatever the parameters: the
     * Bayesian and CUPED fields, z_test, the decision (its alpha the experiment's, not the
     * request's), the variants' names */
    const char *const queries[] = {"?cuped=true&method=bayesian", "?cuped=false&correction=holm",
                                   "?method=sequential&alpha=0.1", ""};
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        json_decref(results_csv_check(D.port, D.admin_key,
                                      fmt("/api/v1/experiments/winner/results%s", queries[i])));
    }

    /* the time series as CSV, by parameter and by Accept */
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/winner/timeseries?metric=conv&format=csv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    char ct[64];
    assert_true(resp_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "text/csv; charset=utf-8");
    assert_int_equal(strncmp(r.body, "experiment,metric,method,alpha,date,variant,users,mean,", 55),
                     0);
    assert_non_null(strstr(r.body, ",v1,10000,0.1127,"));
    resp_free(&r);
    const char *raw =
        fmt("GET /api/v1/experiments/winner/timeseries?metric=conv HTTP/1.1\r\nHost: x\r\n"
            "Authorization: Bearer %s\r\nAccept: text/csv\r\nConnection: close\r\n\r\n",
            D.admin_key);
    assert_int_equal(http_raw(D.port, raw, strlen(raw), &r), 0);
    assert_int_equal(strncmp(r.body, "experiment,metric,method,", 25), 0);
    resp_free(&r);
    json_decref(http_json(D.port, "GET",
                          "/api/v1/experiments/winner/timeseries?metric=conv&format=xml",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 400);

    /* mde is a validated field of the experiment */
    json_decref(http_json(D.port, "PATCH", "/api/v1/experiments/winner", D.admin_key,
                          "{\"mde\": -1}", &st));
    assert_int_equal(st, 400);
    json_t *x = http_json(D.port, "PATCH", "/api/v1/experiments/winner", D.admin_key,
                          "{\"mde\": 0.2}", &st);
    assert_int_equal(st, 200);
    near_d(json_object_get(x, "mde"), 0.2, "patched mde");
    json_decref(x);
    json_decref(res);
    res = results("winner", "cuped=false");
    json_int_t need2 = json_integer_value(
        json_object_get(json_object_get(res, "decision"), "users_needed_per_variant"));
    assert_true(need2 > 0 && need2 < need / 10);
    json_decref(res);
}

static const json_t *raw_fixture(const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(fixtures, "raw"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0) {
            return c;
        }
    }
    fail_msg("raw fixture %s missing", name);
    return NULL;
}

/* Ingest one arm of a raw case: user i exposed at t0 to v<arm>, its value y as one event an
 * hour later (none when 0), and its covariate x as one event an hour before exposure. */
static void ingest_raw_arm(const char *exp, const char *metric, int arm, const json_t *ys,
                           const json_t *xs)
{
    long long t0 = now_ms - 2LL * 86400000;
    json_t *ex = json_array(), *ev = json_array();
    size_t i;
    const json_t *y;
    json_array_foreach(ys, i, y)
    {
        const char *uid = fmt("%s-r%d-%zu", exp, arm, i);
        json_array_append_new(ex, json_pack("{s:s, s:s, s:s, s:I}", "experiment", exp, "user_id",
                                            uid, "variant", fmt("v%d", arm), "ts", (json_int_t)t0));
        if (json_number_value(y) != 0) {
            json_array_append_new(ev, json_pack("{s:s, s:s, s:f, s:I}", "user_id", uid, "event",
                                                metric, "value", json_number_value(y), "ts",
                                                (json_int_t)(t0 + 3600000)));
        }
        const json_t *x = json_array_get(xs, i);
        if (x != NULL && json_number_value(x) != 0) {
            json_array_append_new(ev, json_pack("{s:s, s:s, s:f, s:I}", "user_id", uid, "event",
                                                metric, "value", json_number_value(x), "ts",
                                                (json_int_t)(t0 - 3600000)));
        }
    }
    post_ok("/api/v1/exposures", json_pack("{s:o}", "exposures", ex));
    if (json_array_size(ev) > 0) {
        post_ok("/api/v1/events", json_pack("{s:o}", "events", ev));
    } else {
        json_decref(ev);
    }
}

/* Values of 1e12 +- 100, 1e12 against 1e12 + 1, and binomial CUPED with pre = post, through
 * the real ingestion path and roll-ups: scipy's numbers on the raw values. */
/* The time series' last day (cumulative) has the results' absolute lift SE: its daily
 * sums are as exact as the main roll-up's (STATS.md numerics, values of 1e12 +- 100). */
static void timeseries_last_se(const char *experiment, const char *metric, const json_t *e,
                               const char *what)
{
    json_t *ts;
    const json_t *lv = timeseries_last(experiment, metric, &ts);
    near(json_object_get(json_object_get(lv, "absolute_lift"), "se"), json_object_get(e, "abs_se"),
         what);
    json_decref(ts);
}

static void test_large_values_and_pre_equals_post(void **state)
{
    (void)state;
    const char *cases[] = {"raw_1e12_noise", "raw_1e12_vs_1e12_plus_1", "raw_1e12_alternating",
                           "raw_binomial_pre_equals_post"};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const json_t *f = raw_fixture(cases[k]);
        const char *type = json_string_value(json_object_get(f, "type"));
        const char *metric = fmt("big%zu", k);
        char m[32], x[32];
        snprintf(m, sizeof(m), "%s", metric);
        snprintf(x, sizeof(x), "bigexp%zu", k);
        make_metric(m, type);
        const double w[] = {0.5, 0.5};
        make_experiment(x, m, w, 2);
        ingest_raw_arm(x, m, 0, json_object_get(f, "a"), json_object_get(f, "xa"));
        ingest_raw_arm(x, m, 1, json_object_get(f, "b"), json_object_get(f, "xb"));
        bool cuped = json_is_true(json_object_get(f, "cuped"));
        json_t *res = results(x, cuped ? "cuped=true" : "cuped=false");
        const json_t *e = json_object_get(f, "expected");
        const json_t *c = treatment(res, 0, 0), *v = treatment(res, 0, 1);
        near(json_object_get(c, "mean"), json_object_get(e, "mean_a"), "mean a");
        near(json_object_get(v, "mean"), json_object_get(e, "mean_b"), "mean b");
        /* stddev against numpy's on the raw values, 1e-9 relative */
        double sa = json_number_value(json_object_get(e, "stddev_a"));
        double sb = json_number_value(json_object_get(e, "stddev_b"));
        double ga = json_number_value(json_object_get(c, "stddev"));
        double gb = json_number_value(json_object_get(v, "stddev"));
        if (fabs(ga - sa) > 1e-9 * sa || fabs(gb - sb) > 1e-9 * sb) {
            fail_msg("%s: stddev %.17g %.17g, want %.17g %.17g", cases[k], ga, gb, sa, sb);
        }
        check_against(v, e, "frequentist");
        near(json_object_get(json_object_get(v, "absolute_lift"), "se"),
             json_object_get(e, "abs_se"), "abs se");
        near(json_object_get(json_object_get(v, "relative_lift"), "se"),
             json_object_get(e, "rel_se"), "rel se");
        near(json_object_get(v, "df"), json_object_get(e, "df"), "df");
        if (cuped) {
            near(json_object_get(json_object_get(v, "cuped"), "theta"), json_object_get(e, "theta"),
                 "theta");
        }
        /* a warning only where the reference has a null (a genuine zero SE) */
        bool warned = json_is_string(json_object_get(v, "warning"));
        if (warned != json_is_true(json_object_get(e, "warning"))) {
            fail_msg("%s: warning %s", cases[k],
                     warned ? json_string_value(json_object_get(v, "warning")) : "(none)");
        }
        json_decref(res);
    }
    /* the stop rebuilds the roll-ups from the raw rows: still exact */
    const json_t *e = json_object_get(raw_fixture("raw_1e12_noise"), "expected");
    timeseries_last_se("bigexp0", "big0", e, "time series");
    post_ok("/api/v1/experiments/bigexp0/stop", json_object());
    /* the stop's rebuild runs beside ingestion (reads see the kept copies meanwhile): wait
     * for its end, so that what follows reads the rebuilt roll-ups */
    int waited = 0;
    while (daemon_db_int(&D, "SELECT COUNT(*) FROM rollup_rebuilds", 0) != 0 && waited++ < 1200) {
        usleep(50000);
    }
    assert_true(waited < 1200);
    timeseries_last_se("bigexp0", "big0", e, "time series after the rebuild");
    json_t *res = results("bigexp0", "cuped=false");
    double ga = json_number_value(json_object_get(treatment(res, 0, 0), "stddev"));
    double sa = json_number_value(json_object_get(e, "stddev_a"));
    if (fabs(ga - sa) > 1e-9 * sa) {
        fail_msg("stddev after the rebuild %.17g, want %.17g", ga, sa);
    }
    check_against(treatment(res, 0, 1), e, "frequentist");
    json_decref(res);
}

/* CUPED whose adjusted variance is a small remainder of the sums, end to end (STATS.md
 * "CUPED", "Numerics"): 200 users alternating variants, pre value x, y = x but +- delta for
 * every 20th user of an arm, ingested as events. Formed in double from the rounded sums the
 * SE was 0 with a warning (x up to 1e6, delta 0.5). Exact values from Python fractions on the
 * same per-user values: tests/fixtures/gen_cuped_exact.py (its LCG is repeated here); also in
 * tests/unit/test_stats.c test_cuped_cancellation. */
static void test_cuped_cancellation_end_to_end(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        uint64_t seed;
        long long lo, hi;
        double delta;
        double theta, d, se, df, se_r; /* exact */
    } cases[] = {
        {"cupedwide", 2024, 0, 1000000, 0.5, 1.0000000029093588, 3.999536060013024e-05,
         0.015874677569048461, 197.9999986839774, 0.0013732359910841397},
        {"cuped1e12", 7, 999999999900, 1000000000100, 0.5, 1.0001527105601016,
         -0.0008261641301499608, 0.015829610570953462, 197.96743841437564, 1.5829610572606188e-14},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        make_metric(cases[k].key, "sum");
        const double w[] = {0.5, 0.5};
        make_experiment(cases[k].key, cases[k].key, w, 2);
        json_t *ys[2] = {json_array(), json_array()}, *xs[2] = {json_array(), json_array()};
        uint64_t seed = cases[k].seed;
        for (int i = 0; i < 200; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            double x =
                (double)(cases[k].lo +
                         (long long)((seed >> 33) % (uint64_t)(cases[k].hi - cases[k].lo + 1)));
            int j = i / 2; /* the user's index in its arm */
            double y = j % 40 == 0 ? x + cases[k].delta : j % 40 == 20 ? x - cases[k].delta : x;
            json_array_append_new(ys[i % 2], json_real(y));
            json_array_append_new(xs[i % 2], json_real(x));
        }
        for (int arm = 0; arm < 2; arm++) {
            ingest_raw_arm(cases[k].key, cases[k].key, arm, ys[arm], xs[arm]);
            json_decref(ys[arm]);
            json_decref(xs[arm]);
        }
        json_t *res = results(cases[k].key, "method=frequentist&cuped=true");
        const json_t *v = treatment(res, 0, 1);
        const struct {
            const char *what;
            const json_t *got;
            double want;
        } q[] = {
            {"abs se", json_object_get(json_object_get(v, "absolute_lift"), "se"), cases[k].se},
            {"df", json_object_get(v, "df"), cases[k].df},
            {"theta", json_object_get(json_object_get(v, "cuped"), "theta"), cases[k].theta},
            {"abs estimate", json_object_get(json_object_get(v, "absolute_lift"), "estimate"),
             cases[k].d},
            {"rel se", json_object_get(json_object_get(v, "relative_lift"), "se"), cases[k].se_r},
        };
        for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
            double g = json_number_value(q[i].got);
            if (!json_is_number(q[i].got) || fabs(g - q[i].want) > 1e-9 * fabs(q[i].want)) {
                fail_msg("%s: %s %.17g, exact %.17g", cases[k].key, q[i].what, g, q[i].want);
            }
        }
        if (json_object_get(v, "warning") != NULL ||
            !json_is_number(json_object_get(v, "p_value"))) {
            fail_msg("%s: warning %s", cases[k].key,
                     json_string_value(json_object_get(v, "warning")));
        }
        json_decref(res);
    }
}

/* GET .../users: every exposed user once, streamed over several pages, values summing to
 * the roll-ups' sums; NDJSON alike. */
static void test_users_export(void **state)
{
    (void)state;
    struct resp r;
    assert_int_equal(http_req(D.port, "GET", "/api/v1/experiments/winner/users?metric=conv",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    char ct[64];
    assert_true(resp_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "text/csv; charset=utf-8");
    assert_int_equal(strncmp(r.body, "user_id,variant,first_exposure,value,pre_value\r\n", 48), 0);
    long rows = 0;
    double sum[2] = {0, 0};
    long users[2] = {0, 0};
    for (const char *p = strstr(r.body, "\r\n") + 2; *p; rows++) {
        const char *end = strstr(p, "\r\n");
        assert_non_null(end);
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)(end - p), p);
        char *f2 = strchr(line, ',');
        assert_non_null(f2);
        int arm = f2[2] - '0'; /* variant v0 / v1 */
        char *f3 = strchr(f2 + 1, ',');
        char *f4 = strchr(f3 + 1, ',');
        assert_true(arm == 0 || arm == 1);
        users[arm]++;
        sum[arm] += strtod(f4 + 1, NULL);
        p = end + 2;
    }
    assert_int_equal(rows, 20000);
    assert_int_equal(users[0], 10000);
    assert_int_equal(users[1], 10000);
    json_t *res = results("winner", "cuped=false");
    near_d(json_object_get(treatment(res, 0, 0), "sum"), sum[0], "exported control sum");
    near_d(json_object_get(treatment(res, 0, 1), "sum"), sum[1], "exported treatment sum");
    json_decref(res);
    resp_free(&r);

    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/winner/users?metric=conv&format=ndjson",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    long lines = 0;
    const char *p = r.body;
    const char *nl = strchr(p, '\n');
    assert_non_null(nl);
    char first[512];
    snprintf(first, sizeof(first), "%.*s", (int)(nl - p), p);
    json_t *o = json_loads(first, 0, NULL);
    assert_non_null(o);
    assert_true(json_is_string(json_object_get(o, "user_id")));
    assert_true(json_is_number(json_object_get(o, "value")));
    assert_true(json_is_number(json_object_get(o, "pre_value")));
    assert_true(json_is_integer(json_object_get(o, "first_exposure")));
    json_decref(o);
    for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        lines++;
    }
    assert_int_equal(lines, 20000);
    resp_free(&r);

    int st;
    json_decref(http_json(D.port, "GET", "/api/v1/experiments/winner/users?metric=nope",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 400);
    json_decref(http_json(D.port, "GET", "/api/v1/experiments/winner/users?metric=conv&format=xml",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 400);
    json_decref(http_json(D.port, "GET", "/api/v1/experiments/nope/users?metric=conv", D.admin_key,
                          NULL, &st));
    assert_int_equal(st, 404);
}

/* A ratio metric (revenue per session) through ingestion: equal to the delta method on the
 * raw rows (numpy, tests/fixtures/gen_stats.py). */
static void test_ratio_metric(void **state)
{
    (void)state;
    const json_t *f = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(fixtures, "ratios"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), "raw_revenue_per_session") == 0) {
            f = c;
        }
    }
    assert_non_null(f);
    make_metric("rsess", "count");
    post_ok("/api/v1/metrics", json_pack("{s:s, s:s, s:s, s:n}", "key", "rrev", "event", "rrev",
                                         "type", "sum", "window_hours"));
    post_ok("/api/v1/metrics", json_pack("{s:s, s:s, s:s, s:s}", "key", "rev-per-session", "type",
                                         "ratio", "numerator", "rrev", "denominator", "rsess"));
    int st;
    /* parts must exist and not be ratios; numerator/denominator only on ratios */
    json_decref(http_json(D.port, "POST", "/api/v1/metrics", D.admin_key,
                          "{\"key\": \"bad-ratio\", \"type\": \"ratio\", "
                          "\"numerator\": \"nope\", \"denominator\": \"rsess\"}",
                          &st));
    assert_int_equal(st, 400);
    json_decref(http_json(D.port, "POST", "/api/v1/metrics", D.admin_key,
                          "{\"key\": \"bad-ratio\", \"type\": \"ratio\", "
                          "\"numerator\": \"rev-per-session\", \"denominator\": \"rsess\"}",
                          &st));
    assert_int_equal(st, 400);
    json_decref(http_json(D.port, "POST", "/api/v1/metrics", D.admin_key,
                          "{\"key\": \"bad-ratio\", \"type\": \"ratio\"}", &st));
    assert_int_equal(st, 400);
    const double w[] = {0.5, 0.5};
    make_experiment("ratio-exp", "rev-per-session", w, 2);
    const json_t *raw = json_object_get(f, "raw");
    long long t0 = now_ms - 2LL * 86400000;
    for (int arm = 0; arm < 2; arm++) {
        const json_t *num = json_object_get(raw, arm ? "num_b" : "num_a");
        const json_t *den = json_object_get(raw, arm ? "den_b" : "den_a");
        json_t *ex = json_array(), *ev = json_array();
        size_t u;
        const json_t *y;
        json_array_foreach(num, u, y)
        {
            const char *uid = fmt("ratio-u%d-%zu", arm, u);
            json_array_append_new(ex, json_pack("{s:s, s:s, s:s, s:I}", "experiment", "ratio-exp",
                                                "user_id", uid, "variant", fmt("v%d", arm), "ts",
                                                (json_int_t)t0));
            int sessions = (int)json_number_value(json_array_get(den, u));
            for (int k = 0; k < sessions; k++) {
                json_array_append_new(ev,
                                      json_pack("{s:s, s:s, s:I}", "user_id", uid, "event", "rsess",
                                                "ts", (json_int_t)(t0 + 60000 * (k + 1))));
            }
            if (json_number_value(y) != 0) {
                json_array_append_new(ev, json_pack("{s:s, s:s, s:f, s:I}", "user_id", uid, "event",
                                                    "rrev", "value", json_number_value(y), "ts",
                                                    (json_int_t)(t0 + 3600000)));
            }
        }
        post_ok("/api/v1/exposures", json_pack("{s:o}", "exposures", ex));
        post_ok("/api/v1/events", json_pack("{s:o}", "events", ev));
    }
    json_t *res = results("ratio-exp", "");
    const json_t *e = json_object_get(f, "expected");
    const json_t *m = json_array_get(json_object_get(res, "metrics"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "ratio");
    assert_string_equal(json_string_value(json_object_get(m, "numerator")), "rrev");
    const json_t *ctl = treatment(res, 0, 0), *v = treatment(res, 0, 1);
    near(json_object_get(ctl, "mean"), json_object_get(e, "mean_a"), "ratio mean a");
    near(json_object_get(v, "mean"), json_object_get(e, "mean_b"), "ratio mean b");
    json_t *sd = json_real(sqrt(json_number_value(json_object_get(e, "var_a"))));
    near(json_object_get(ctl, "stddev"), sd, "ratio delta-method stddev a");
    json_decref(sd);
    check_against(v, e, "frequentist");
    near(json_object_get(json_object_get(v, "absolute_lift"), "se"), json_object_get(e, "abs_se"),
         "ratio abs se");
    near(json_object_get(v, "df"), json_object_get(e, "df"), "ratio df");
    /* CUPED does not apply (the experiment's default cuped=true): no cuped object, and a
     * warning says so; none without CUPED */
    assert_true(json_is_true(json_object_get(res, "cuped")));
    assert_null(json_object_get(v, "cuped"));
    const char *warning = json_string_value(json_object_get(v, "warning"));
    assert_non_null(warning);
    assert_string_equal(warning, "CUPED is not applied to ratio metrics");
    json_t *plain = results("ratio-exp", "cuped=false");
    assert_null(json_object_get(treatment(plain, 0, 1), "cuped"));
    assert_null(json_object_get(treatment(plain, 0, 1), "warning"));
    json_decref(plain);
    /* the CSV carries the ratio's fields too: its parts and each variant's denominator sum */
    json_t *same = results_csv_check(D.port, D.admin_key, "/api/v1/experiments/ratio-exp/results");
    assert_non_null(json_object_get(treatment(same, 0, 1), "denominator_sum"));
    json_decref(same);
    assert_true(json_is_object(json_object_get(res, "decision")));
    if (!json_is_integer(
            json_object_get(json_object_get(res, "decision"), "users_needed_per_variant"))) {
        char *d = json_dumps(json_object_get(res, "decision"), 0);
        fail_msg("decision %s", d);
        free(d);
    }
    json_decref(res);
    /* the Bayesian answer on the same moments */
    res = results("ratio-exp", "method=bayesian");
    assert_true(json_is_number(json_object_get(treatment(res, 0, 1), "chance_to_beat_control")));
    json_decref(res);
    json_decref(http_json(D.port, "GET",
                          "/api/v1/experiments/ratio-exp/timeseries?metric=rev-per-session",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 400);
    /* ...but its parts have a series and a per-user export of their own, also when the
     * experiment lists only the ratio (they were "not one of the experiment's metrics") */
    json_t *parts_ts =
        http_json(D.port, "GET", "/api/v1/experiments/ratio-exp/timeseries?metric=rrev",
                  D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    assert_true(json_array_size(json_object_get(parts_ts, "days")) > 0);
    json_decref(parts_ts);
    struct resp ur;
    assert_int_equal(http_req(D.port, "GET", "/api/v1/experiments/ratio-exp/users?metric=rsess",
                              D.admin_key, NULL, &ur),
                     0);
    assert_int_equal(ur.status, 200);
    double sessions_a = 0, sessions_csv = 0;
    const json_t *den_a = json_object_get(raw, "den_a");
    json_array_foreach(den_a, i, c)
    {
        sessions_a += json_number_value(c);
    }
    for (char *line = strstr(ur.body, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        char uid[64], variant[16];
        long long first;
        double value;
        if (sscanf(line + 2, "%63[^,],%15[^,],%lld,%lf", uid, variant, &first, &value) == 4 &&
            strcmp(variant, "v0") == 0) {
            sessions_csv += value;
        }
    }
    resp_free(&ur);
    assert_true(sessions_a > 0);
    assert_true(fabs(sessions_csv - sessions_a) < 1e-9);
    /* a metric neither listed nor a part of a listed ratio stays refused */
    json_decref(http_json(D.port, "GET", "/api/v1/experiments/ratio-exp/users?metric=conv",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 400);
    json_decref(http_json(D.port, "GET", "/api/v1/experiments/ratio-exp/timeseries?metric=conv",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 400);
    /* the parts of a ratio in use: not deletable (the results would lose them), not turned
     * into ratios themselves; a ratio of a metric by itself is refused */
    json_t *del = http_json(D.port, "DELETE", "/api/v1/metrics/rrev", D.admin_key, NULL, &st);
    assert_int_equal(st, 409);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(del, "error"), "message")),
               "rev-per-session"));
    json_decref(del);
    json_decref(http_json(D.port, "PATCH", "/api/v1/metrics/rsess", D.admin_key,
                          "{\"type\": \"ratio\", \"numerator\": \"rrev\", "
                          "\"denominator\": \"conv\"}",
                          &st));
    assert_int_equal(st, 400);
    json_decref(http_json(D.port, "POST", "/api/v1/metrics", D.admin_key,
                          "{\"key\": \"self-ratio\", \"type\": \"ratio\", "
                          "\"numerator\": \"rrev\", \"denominator\": \"rrev\"}",
                          &st));
    assert_int_equal(st, 400);
    res = results("ratio-exp", "");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(res, "metrics"), 0), "type")),
                        "ratio");
    json_decref(res);
}

/* Whether a lift's ci_adjusted excludes 0 (unbounded ends, null, do not). */
static bool adj_excludes_zero(const json_t *lift)
{
    const json_t *c = json_object_get(lift, "ci_adjusted");
    const json_t *lo = json_array_get(c, 0), *hi = json_array_get(c, 1);
    return (json_is_number(lo) && json_number_value(lo) > 0) ||
           (json_is_number(hi) && json_number_value(hi) < 0);
}

/* One lift under a correction: ci_adjusted excludes 0 exactly when its adjusted p-value is
 * below alpha (its `significant`), holds the unadjusted ci, and is the interval of the SE
 * that gives the adjusted p-value (frequentist: estimate +- t(1 - alpha/2, df) |estimate| /
 * t(1 - p_adj/2, df)); [null, null] only for an adjusted p-value of 1, with a warning. */
static void check_adjusted_lift(const json_t *v, const json_t *lift, const json_t *p_adj,
                                const json_t *sig, double alpha, bool frequentist, const char *what)
{
    const json_t *ca = json_object_get(lift, "ci_adjusted");
    if (!json_is_array(ca) || json_array_size(ca) != 2) {
        fail_msg("%s: no ci_adjusted", what);
    }
    assert_true(json_is_number(p_adj));
    double pa = json_number_value(p_adj);
    if ((pa < alpha) != json_is_true(sig) || json_is_true(sig) != adj_excludes_zero(lift)) {
        fail_msg("%s: p_adj %.6g, significant %d, ci_adjusted excludes 0: %d", what, pa,
                 json_is_true(sig), adj_excludes_zero(lift));
    }
    const json_t *lo = json_array_get(ca, 0), *hi = json_array_get(ca, 1);
    if (json_is_null(lo) || json_is_null(hi)) {
        assert_true(json_is_null(lo) && json_is_null(hi));
        assert_true(frequentist && pa == 1);
        assert_non_null(strstr(json_string_value(json_object_get(v, "warning")),
                               "adjusted interval is unbounded"));
        return;
    }
    double est = json_number_value(json_object_get(lift, "estimate"));
    double l = json_number_value(lo), h = json_number_value(hi);
    const json_t *raw = json_object_get(lift, "ci");
    double rl = json_number_value(json_array_get(raw, 0)),
           rh = json_number_value(json_array_get(raw, 1));
    double tol = 1e-9 * (fabs(est) + (h - l));
    if (!(l <= rl + tol && h >= rh - tol) || fabs((l + h) / 2 - est) > tol) {
        fail_msg("%s: ci_adjusted [%.10g, %.10g] around %.10g does not hold ci [%.10g, %.10g]",
                 what, l, h, est, rl, rh);
    }
    if (frequentist) {
        double df = json_number_value(json_object_get(v, "df"));
        double hw = fabs(est) * gsl_cdf_tdist_Qinv(alpha / 2, df) / gsl_cdf_tdist_Qinv(pa / 2, df);
        hw = fmax(hw, (rh - rl) / 2);
        near_d(lo, est - hw, what);
        near_d(hi, est + hw, what);
    }
}

/* Every treatment of res: both lifts checked, and the verdict is the one of the relative
 * ci_adjusted shown beside it. */
static void check_adjusted(const json_t *res, double alpha, bool frequentist)
{
    size_t i, j;
    const json_t *m, *v;
    json_array_foreach(json_object_get(res, "metrics"), i, m)
    {
        json_array_foreach(json_object_get(m, "variants"), j, v)
        {
            if (j == 0) {
                assert_null(json_object_get(json_object_get(v, "relative_lift"), "ci_adjusted"));
                continue;
            }
            const char *what = fmt("%s/%s", json_string_value(json_object_get(m, "key")),
                                   json_string_value(json_object_get(v, "key")));
            char name[128];
            snprintf(name, sizeof(name), "%s", what);
            const json_t *rel = json_object_get(v, "relative_lift");
            check_adjusted_lift(v, json_object_get(v, "absolute_lift"),
                                json_object_get(v, "p_value_adjusted"),
                                json_object_get(v, "significant"), alpha, frequentist, name);
            check_adjusted_lift(v, rel, json_object_get(rel, "p_value_adjusted"),
                                json_object_get(rel, "significant"), alpha, frequentist, name);
            const char *vd = json_string_value(json_object_get(v, "verdict"));
            if ((strcmp(vd, "flat") != 0) != adj_excludes_zero(rel)) {
                fail_msg("%s: verdict %s beside a relative ci_adjusted that %s 0", name, vd,
                         adj_excludes_zero(rel) ? "excludes" : "holds");
            }
        }
    }
}

/* The reviewer's case: a relative interval excluding 0 (p 0.02) whose Holm-adjusted p-value
 * is above alpha gave the verdict "flat" beside that interval, in the API and in `bunsen
 * results --correction holm --format table`. Under a correction each lift now has
 * ci_adjusted, the interval of its adjusted p-value, and the verdict is the one of it: under
 * holm and bh, frequentist and sequential, for every metric and treatment. */
static void test_correction_intervals(void **state)
{
    (void)state;
    const char *keys[] = {"mc_a", "mc_b", "mc_c", "mc_d"};
    const int conv[4][3] = {{100, 140, 100}, {100, 200, 110}, {100, 90, 95}, {100, 60, 105}};
    for (int k = 0; k < 4; k++) {
        make_metric(keys[k], k == 2 ? "count" : "binomial");
    }
    post_ok("/api/v1/experiments",
            json_pack("{s:s, s:[{s:s, s:f}, {s:s, s:f}, {s:s, s:f}], s:[s, s, s, s]}", "key",
                      "multi", "variants", "key", "v0", "weight", 0.25, "key", "v1", "weight", 0.25,
                      "key", "v2", "weight", 0.5, "metrics", keys[0], keys[1], keys[2], keys[3]));
    post_ok("/api/v1/experiments/multi/start", json_object());
    for (int k = 0; k < 4; k++) {
        for (int arm = 0; arm < 3; arm++) {
            ingest_binomial_arm("multi", keys[k], arm, 1000, conv[k][arm]);
        }
    }
    json_t *res = results("multi", "cuped=false&correction=holm");
    const json_t *a1 = treatment(res, 0, 1);
    const json_t *rel = json_object_get(a1, "relative_lift");
    /* the unadjusted interval excludes 0, the adjusted p-value is above alpha */
    assert_true(json_number_value(ci(a1, "relative_lift", 0)) > 0);
    assert_true(json_number_value(json_object_get(rel, "p_value")) < 0.05);
    assert_true(json_number_value(json_object_get(rel, "p_value_adjusted")) > 0.05);
    assert_string_equal(json_string_value(json_object_get(a1, "verdict")), "flat");
    const json_t *adj = json_object_get(rel, "ci_adjusted");
    assert_true(json_number_value(json_array_get(adj, 0)) < 0);
    assert_true(json_number_value(json_array_get(adj, 1)) > 0);
    /* a lift of exactly 0: p = 1, adjusted 1, an unbounded adjusted interval */
    const json_t *a2 = treatment(res, 0, 2);
    assert_true(json_is_null(
        json_array_get(json_object_get(json_object_get(a2, "relative_lift"), "ci_adjusted"), 0)));
    /* significant after the correction: a win and a loss */
    assert_string_equal(json_string_value(json_object_get(treatment(res, 1, 1), "verdict")), "win");
    assert_string_equal(json_string_value(json_object_get(treatment(res, 3, 1), "verdict")),
                        "loss");
    check_adjusted(res, 0.05, true);
    json_decref(res);
    const char *cases[][2] = {{"cuped=false&correction=bh", "f"},
                              {"cuped=false&correction=holm&alpha=0.1", "f"},
                              {"cuped=false&correction=holm&method=sequential", "s"},
                              {"cuped=false&correction=bh&method=sequential", "s"}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        res = results("multi", cases[c][0]);
        check_adjusted(res, json_number_value(json_object_get(res, "alpha")),
                       cases[c][1][0] == 'f');
        json_decref(res);
    }
    /* without a correction, no adjusted interval (ci is the interval of the verdict); under
     * bayesian no p-values, so none to adjust */
    res = results("multi", "cuped=false&correction=none");
    assert_null(
        json_object_get(json_object_get(treatment(res, 0, 1), "relative_lift"), "ci_adjusted"));
    json_decref(res);
    res = results("multi", "cuped=false&correction=holm&method=bayesian");
    assert_true(json_is_null(
        json_object_get(json_object_get(treatment(res, 0, 1), "relative_lift"), "ci_adjusted")));
    json_decref(res);

    /* the CLI table shows the adjusted interval beside the verdict, labelled so */
    char *out = NULL;
    const char *args[] = {"results",  "multi", "--correction", "holm", "--cuped", "false",
                          "--format", "table", "--data-dir",   D.dir,  NULL};
    assert_int_equal(bunsen_run(&out, args), 0);
    assert_non_null(strstr(out, "adj.ci.low"));
    assert_non_null(strstr(out, "adj.ci.high"));
    assert_null(strstr(out, " ci.low"));
    const char *row = strstr(out, "\nmc_a             v1 ");
    if (row == NULL) {
        fail_msg("no mc_a/v1 row in\n%s", out);
    }
    char metric[32], variant[32], lo[32], hi[32], verdict[32];
    double users, mean, lift, p, padj;
    assert_int_equal(sscanf(row, "%31s %31s %lf %lf %lf %31s %31s %lf %lf %31s", metric, variant,
                            &users, &mean, &lift, lo, hi, &p, &padj, verdict),
                     10);
    assert_true(strtod(lo, NULL) < 0 && strtod(hi, NULL) > 0); /* the adjusted one: holds 0 */
    assert_string_equal(verdict, "flat");
    row = strstr(out, "\nmc_a             v2 ");
    assert_non_null(row);
    assert_int_equal(sscanf(row, "%31s %31s %lf %lf %lf %31s %31s", metric, variant, &users, &mean,
                            &lift, lo, hi),
                     7);
    assert_string_equal(lo, "-inf");
    assert_string_equal(hi, "inf");
    free(out);

    /* CSV: the adjusted ends in their columns */
    struct resp r;
    assert_int_equal(http_req(D.port, "GET",
                              "/api/v1/experiments/multi/results?format=csv&cuped=false&"
                              "correction=holm",
                              D.admin_key, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, ",absolute_ci_adjusted_low,absolute_ci_adjusted_high,"
                                   "relative_ci_adjusted_low,relative_ci_adjusted_high"));
    assert_non_null(strstr(r.body, ",-inf,inf,\r\n")); /* then a breakdown's users_not_recorded */
    resp_free(&r);
}

static void test_frozen_at_stop(void **state)
{
    (void)state;
    post_ok("/api/v1/experiments/gb-example/stop", json_object());
    json_t *before = results("gb-example", "cuped=false");
    /* an event after the stop for a converted-or-not user changes nothing */
    post_ok("/api/v1/events", json_pack("{s:[{s:s, s:s}]}", "events", "user_id", "gb-example-u0-20",
                                        "event", "conv"));
    json_t *after = results("gb-example", "cuped=false");
    near(json_object_get(treatment(after, 0, 0), "sum"),
         json_object_get(treatment(before, 0, 0), "sum"), "control conversions after stop");
    assert_int_equal(json_integer_value(json_object_get(after, "frozen_at")) > 0, 1);
    /* the stop rebuilt the roll-ups: the time series still ends at the results' numbers */
    int st;
    json_t *ts = http_json(D.port, "GET", "/api/v1/experiments/gb-example/timeseries?metric=conv",
                           D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    json_t *days = json_object_get(ts, "days");
    json_t *last = json_array_get(
        json_object_get(json_array_get(days, json_array_size(days) - 1), "variants"), 1);
    assert_int_equal(json_integer_value(json_object_get(last, "users")), 30);
    near(json_object_get(last, "mean"), json_object_get(treatment(after, 0, 1), "mean"),
         "time series after the rebuild");
    json_decref(ts);
    json_decref(before);
    json_decref(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_winner_all_methods),
        cmocka_unit_test(test_growthbook_published),
        cmocka_unit_test(test_bayesian_verdict_interval),
        cmocka_unit_test(test_zero_control_and_weights),
        cmocka_unit_test(test_verdict_without_relative_test),
        cmocka_unit_test(test_cuped_from_events),
        cmocka_unit_test(test_csv_timeseries_power_errors),
        cmocka_unit_test(test_decision_verdict_csv),
        cmocka_unit_test(test_decision_weight_zero),
        cmocka_unit_test(test_decision_decrease),
        cmocka_unit_test(test_large_values_and_pre_equals_post),
        cmocka_unit_test(test_cuped_cancellation_end_to_end),
        cmocka_unit_test(test_users_export),
        cmocka_unit_test(test_ratio_metric),
        cmocka_unit_test(test_correction_intervals),
        cmocka_unit_test(test_frozen_at_stop),
    };
    return cmocka_run_group_tests_name("api_results", tests, setup, teardown);
}
