/*
 * test_results_series.c - the time series' last day equals the results (API.md "Time series",
 * docs/STATISTICS.md "Time series"): CUPED from real pre-period events (the default analysis),
 * the correction over the results' whole family (two metrics here), sequential with
 * always_valid; and the series says which settings it applied. Runs on SQLite and, under
 * tests/pg/api.sh, on PostgreSQL.
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct daemon D;

static int setup(void **state)
{
    (void)state;
    return daemon_start(&D, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = daemon_stop(&D);
    daemon_cleanup(&D);
    return rc == 0 ? 0 : -1;
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

/* a and b both null, or numbers within 1e-9 (relative) */
static void same(const json_t *a, const json_t *b, const char *what, const char *q)
{
    if (json_is_null(a) && json_is_null(b)) {
        return;
    }
    if (!json_is_number(a) || !json_is_number(b)) {
        fail_msg("%s [%s]: series %s, results %s", what, q, json_dumps(a, JSON_ENCODE_ANY),
                 json_dumps(b, JSON_ENCODE_ANY));
    }
    double x = json_number_value(a), y = json_number_value(b);
    if (fabs(x - y) > 1e-9 * fmax(1, fabs(y))) {
        fail_msg("%s [%s]: series %.17g, results %.17g", what, q, x, y);
    }
}

/* a lift object: estimate, se, ci and (when the results have them) p-values, ci_adjusted */
static void same_lift(const json_t *s, const json_t *r, const char *what, const char *q)
{
    static const char *const f[] = {"estimate", "se", "p_value", "p_value_adjusted"};
    for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
        if (json_object_get(r, f[k]) != NULL) {
            same(json_object_get(s, f[k]), json_object_get(r, f[k]), fmt("%s.%s", what, f[k]), q);
        }
    }
    static const char *const ci[] = {"ci", "ci_adjusted"};
    for (size_t k = 0; k < 2; k++) {
        const json_t *rc = json_object_get(r, ci[k]);
        if (rc == NULL) {
            assert_null(json_object_get(s, ci[k]));
            continue;
        }
        const json_t *sc = json_object_get(s, ci[k]);
        if (json_is_null(rc) && json_is_null(sc)) {
            continue; /* undefined (bayesian) */
        }
        if (!json_is_array(sc) || !json_is_array(rc)) {
            fail_msg("%s.%s [%s]: missing in the series", what, ci[k], q);
        }
        same(json_array_get(sc, 0), json_array_get(rc, 0), fmt("%s.%s low", what, ci[k]), q);
        same(json_array_get(sc, 1), json_array_get(rc, 1), fmt("%s.%s high", what, ci[k]), q);
    }
}

/* The series of metric under query q: its last day's treatment equals the results' (same q). */
static void last_day_is_results(const char *metric, size_t mk, const char *q)
{
    int st;
    json_t *ts =
        http_json(D.port, "GET", fmt("/api/v1/experiments/ts-x/timeseries?metric=%s%s", metric, q),
                  D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    json_t *res = http_json(D.port, "GET", fmt("/api/v1/experiments/ts-x/results?x=1%s", q),
                            D.admin_key, NULL, &st);
    assert_int_equal(st, 200);
    /* the settings it applied, as the results say them */
    static const char *const top[] = {"method", "cuped", "correction", "always_valid"};
    for (size_t k = 0; k < sizeof(top) / sizeof(top[0]); k++) {
        const json_t *a = json_object_get(ts, top[k]), *b = json_object_get(res, top[k]);
        if (b == NULL ? a != NULL : !json_equal(a, b)) {
            fail_msg("%s [%s]: series and results differ", top[k], q);
        }
    }
    json_t *days = json_object_get(ts, "days");
    assert_true(json_array_size(days) >= 1);
    json_t *last = json_array_get(days, json_array_size(days) - 1);
    const json_t *s = json_array_get(json_object_get(last, "variants"), 1);
    const json_t *m = json_array_get(json_object_get(res, "metrics"), mk);
    assert_string_equal(json_string_value(json_object_get(m, "key")), metric);
    const json_t *r = json_array_get(json_object_get(m, "variants"), 1);
    assert_int_equal(json_integer_value(json_object_get(s, "users")),
                     json_integer_value(json_object_get(r, "users")));
    same(json_object_get(s, "mean"), json_object_get(r, "mean"), "mean", q);
    same_lift(json_object_get(s, "absolute_lift"), json_object_get(r, "absolute_lift"),
              "absolute_lift", q);
    same_lift(json_object_get(s, "relative_lift"), json_object_get(r, "relative_lift"),
              "relative_lift", q);
    same(json_object_get(s, "p_value"), json_object_get(r, "p_value"), "p_value", q);
    same(json_object_get(s, "p_value_adjusted"), json_object_get(r, "p_value_adjusted"),
         "p_value_adjusted", q);
    assert_string_equal(json_string_value(json_object_get(s, "verdict")),
                        json_string_value(json_object_get(r, "verdict")));
    const json_t *rc = json_object_get(r, "cuped");
    if (rc != NULL) {
        same(json_object_get(json_object_get(s, "cuped"), "theta"), json_object_get(rc, "theta"),
             "cuped.theta", q);
    } else {
        assert_null(json_object_get(s, "cuped"));
    }
    json_decref(ts);
    json_decref(res);
}

/* A sum metric (revenue) and a count metric, each user with events before (the CUPED
 * covariate) and after the exposure; the treatment earns more, and its pre-period values
 * explain most of its post-period ones, so CUPED and the correction both move the interval. */
static void test_series_last_day_equals_results(void **state)
{
    (void)state;
    post_ok("/api/v1/metrics", json_pack("{s:s, s:s, s:s, s:s, s:n}", "key", "ts-rev", "name",
                                         "rev", "event", "ts-pay", "type", "sum", "window_hours"));
    post_ok("/api/v1/metrics",
            json_pack("{s:s, s:s, s:s, s:s, s:n}", "key", "ts-clk", "name", "clk", "event",
                      "ts-click", "type", "count", "window_hours"));
    post_ok("/api/v1/experiments",
            json_pack("{s:s, s:s, s:[{s:s, s:s, s:f}, {s:s, s:s, s:f}], s:[s, s]}", "key", "ts-x",
                      "name", "x", "variants", "key", "a", "name", "a", "weight", 0.5, "key", "b",
                      "name", "b", "weight", 0.5, "metrics", "ts-rev", "ts-clk"));
    post_ok("/api/v1/experiments/ts-x/start", json_object());
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long t0 = (long long)now.tv_sec * 1000 - 3600000;
    json_t *ex = json_array(), *ev = json_array();
    unsigned seed = 7;
    for (int u = 0; u < 60; u++) {
        int arm = u % 2;
        const char *uid = fmt("ts-u%d", u);
        json_array_append_new(ex, json_pack("{s:s, s:s, s:s, s:I}", "experiment", "ts-x", "user_id",
                                            uid, "variant", arm ? "b" : "a", "ts", (json_int_t)t0));
        seed = seed * 1103515245u + 12345u;
        double pre = 1 + (double)((seed >> 8) % 1000) / 100.0; /* 1 .. 11 */
        seed = seed * 1103515245u + 12345u;
        double noise = (double)((seed >> 8) % 100) / 100.0;
        double post = pre + noise + (arm ? 0.45 : 0);
        json_array_append_new(ev,
                              json_pack("{s:s, s:s, s:f, s:I}", "user_id", uid, "event", "ts-pay",
                                        "value", pre, "ts", (json_int_t)(t0 - 60000)));
        json_array_append_new(ev,
                              json_pack("{s:s, s:s, s:f, s:I}", "user_id", uid, "event", "ts-pay",
                                        "value", post, "ts", (json_int_t)(t0 + 60000)));
        for (int c = 0; c < 1 + u % 3 + arm; c++) {
            json_array_append_new(ev, json_pack("{s:s, s:s, s:I}", "user_id", uid, "event",
                                                "ts-click", "ts", (json_int_t)(t0 + 120000 + c)));
        }
    }
    post_ok("/api/v1/exposures", json_pack("{s:o}", "exposures", ex));
    post_ok("/api/v1/events", json_pack("{s:o}", "events", ev));

    const char *qs[] = {"", /* the defaults: CUPED on, no correction, frequentist */
                        "&cuped=true&correction=holm&method=sequential",
                        "&cuped=true&correction=holm", "&cuped=true&correction=bh&method=bayesian",
                        "&cuped=false&correction=none"};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        last_day_is_results("ts-rev", 0, qs[i]);
        last_day_is_results("ts-clk", 1, qs[i]);
    }
    /* a setting the series cannot take is refused, as the results refuse it */
    int st;
    json_decref(http_json(D.port, "GET",
                          "/api/v1/experiments/ts-x/timeseries?metric=ts-rev&correction=bonf",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 400);
    json_decref(http_json(D.port, "GET",
                          "/api/v1/experiments/ts-x/timeseries?metric=ts-rev&cuped=maybe",
                          D.admin_key, NULL, &st));
    assert_int_equal(st, 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_last_day_equals_results),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
