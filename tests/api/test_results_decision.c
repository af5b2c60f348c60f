/*
 * End-to-end results beyond the reference numbers (split from test_results.c, whose helpers,
 * results_ref.c, it shares), on the experiment "winner" made in the group setup: results and
 * time series as CSV (every JSON field has its column), the relative verdict and the
 * "decision" block (POST /power's answer from the control's rate, variants of weight 0, a
 * pause left out of the rate, goal "decrease"), power and parameter validation, the per-user
 * export (CSV and NDJSON) against the roll-ups' sums, and under a correction the adjusted
 * intervals beside the verdicts (API, CSV and `bunsen results --format table`).
 */
#include "harness.h"
#include "results_csv.h"
#include "results_ref.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bunsen/stats.h"

static struct daemon D;

/* The daemon, and the experiment "winner" (10,000 users per arm) the tests read. */
static int setup(void **state)
{
    (void)state;
    if (daemon_start(&D, NULL) != 0 || results_ref_use(&D) != 0) {
        return -1;
    }
    make_winner();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    results_ref_done();
    return harness_stop(&D);
}

static void test_csv_timeseries_power_errors(void **state)
{
    (void)state;
    struct resp r;
    csv_get("/api/v1/experiments/winner/results?format=csv",
            "experiment,metric,type,goal,variant,users,", &r);
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
     * 51 has 0.7091; test_stats_power test_power_tiny_alpha) */
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

/* Thousands of exposed users and not one event of the primary metric: the decision says the
 * likely cause (the application does not send the event) instead of "control mean is 0",
 * which read as "keep waiting" (review dash36 F8); a control at 0 beside a treatment that
 * converts keeps the old reason. */
static void test_decision_no_events(void **state)
{
    (void)state;
    post_ok("/api/v1/metrics",
            json_pack("{s:s, s:s, s:s}", "key", "signup", "event", "signup", "type", "binomial"));
    const double w[] = {0.5, 0.5};
    make_experiment("silent", "signup", w, 2);
    ingest_binomial_arm("silent", "signup", 0, 300, 0);
    ingest_binomial_arm("silent", "signup", 1, 300, 0);
    json_t *res = results("silent", "cuped=false");
    const json_t *d = json_object_get(res, "decision");
    const char *why = json_string_value(json_object_get(d, "warning"));
    assert_non_null(why);
    assert_non_null(strstr(why, "no \"signup\" event counted yet"));
    assert_true(json_is_null(json_object_get(d, "users_needed_per_variant")));
    json_decref(res);

    make_experiment("silent2", "signup", w, 2);
    ingest_binomial_arm("silent2", "signup", 0, 300, 0);
    ingest_binomial_arm("silent2", "signup", 1, 300, 5);
    res = results("silent2", "cuped=false");
    why = json_string_value(json_object_get(json_object_get(res, "decision"), "warning"));
    assert_non_null(why);
    assert_non_null(strstr(why, "control mean is 0"));
    json_decref(res);
}

/* POST /power with body answers 400 naming field. */
static void power_refused(const char *body, const char *field)
{
    struct resp r;
    assert_int_equal(http_req(D.port, "POST", "/api/v1/power", D.admin_key, body, &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, fmt("\"field\":\"%s\"", field)));
    resp_free(&r);
}

/* A control that always converts is a plan for a decrease (1.0 -> 0.95: 152 per variant by
 * STATS.md's formula, as R's power.prop.test); it answered "the target rate is not below 1"
 * and no sample size. An increase from it has no plan: the target is above 1. /power takes
 * the rates 0 and 1 too. */
static void test_decision_rate_one(void **state)
{
    (void)state;
    post_ok("/api/v1/metrics", json_pack("{s:s, s:s, s:s, s:s}", "key", "errs", "event", "errs",
                                         "type", "binomial", "goal", "decrease"));
    post_ok("/api/v1/metrics",
            json_pack("{s:s, s:s, s:s}", "key", "opens", "event", "opens", "type", "binomial"));
    const double w[] = {0.5, 0.5};
    make_experiment("always", "errs", w, 2);
    make_experiment("always-up", "opens", w, 2);
    const char *keys[] = {"always", "always-up"}, *metrics[] = {"errs", "opens"};
    for (int k = 0; k < 2; k++) {
        ingest_binomial_arm(keys[k], metrics[k], 0, 40, 40);
        ingest_binomial_arm(keys[k], metrics[k], 1, 40, 30);
    }
    json_t *res = results("always", "cuped=false");
    const json_t *d = json_object_get(res, "decision");
    assert_int_equal(json_integer_value(json_object_get(d, "users_needed_per_variant")), 152);
    json_decref(res);
    res = results("always-up", "cuped=false");
    d = json_object_get(res, "decision");
    assert_true(json_is_null(json_object_get(d, "users_needed_per_variant")));
    assert_non_null(strstr(str(d, "warning"), "the target rate is above 1"));
    json_decref(res);
    const char *bodies[] = {"{\"metric_type\": \"binomial\", \"baseline\": 1, \"mde\": -0.05}",
                            "{\"metric_type\": \"binomial\", \"baseline\": 0, \"mde\": 0.01}",
                            "{\"metric_type\": \"binomial\", \"baseline\": 0.95, \"mde\": 0.05}"};
    const long want[] = {152, 780, 152};
    for (int i = 0; i < 3; i++) {
        int st;
        json_t *pw = http_json(D.port, "POST", "/api/v1/power", D.admin_key, bodies[i], &st);
        assert_int_equal(st, 200);
        assert_int_equal(json_integer_value(json_object_get(pw, "users_per_variant")), want[i]);
        json_decref(pw);
    }
    /* a relative mde from a baseline of 0 names the baseline */
    power_refused("{\"metric_type\": \"binomial\", \"baseline\": 0, \"mde\": 0.05, "
                  "\"relative\": true}",
                  "baseline");
    /* a target outside [0, 1] is still a 400 naming mde */
    power_refused("{\"metric_type\": \"binomial\", \"baseline\": 1, \"mde\": 0.05}", "mde");
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
    assert_true(json_is_true(json_object_get(d, "mde_relative")));
    assert_string_equal(json_string_value(json_object_get(d, "planned_for")), "fixed_sample");
    /* under method=sequential the plan is the confidence sequence's (review journey35 F1: it
     * was the fixed-sample plan, while the sequence's interval is far wider, so "users
     * needed" promised 80% power it did not have): the control's rate and the target's
     * variances, the experiment's tuning (default N* 5000) */
    json_t *sres = results("winner", "cuped=false&method=sequential");
    const json_t *sd = json_object_get(sres, "decision");
    assert_string_equal(json_string_value(json_object_get(sd, "planned_for")), "sequential");
    double p2 = p1 * 1.05;
    int64_t seq_need = 0;
    struct err err;
    assert_int_equal(stats_power_sequential(p1 * (1 - p1) + p2 * (1 - p2), p2 - p1, 0.05, 5000, 0.8,
                                            &seq_need, &err),
                     0);
    assert_int_equal(json_integer_value(json_object_get(sd, "users_needed_per_variant")), seq_need);
    assert_true(seq_need > need);
    near_d(json_object_get(sd, "progress"), fmin(1.0, 10000.0 / (double)seq_need), "progress");
    json_decref(sres);
    /* bayesian reads the fixed-sample plan */
    sres = results("winner", "cuped=false&method=bayesian");
    sd = json_object_get(sres, "decision");
    assert_string_equal(json_string_value(json_object_get(sd, "planned_for")), "fixed_sample");
    assert_int_equal(json_integer_value(json_object_get(sd, "users_needed_per_variant")), need);
    json_decref(sres);

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
    csv_get("/api/v1/experiments/winner/timeseries?metric=conv&format=csv",
            "experiment,metric,method,alpha,date,variant,users,mean,", &r);
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

/* The sequential plan uses the experiment's own sequential_tuning and alpha, not the
 * defaults (review diff35 F6: the fixture's experiment has the defaults, which a plan that
 * ignored the experiment's would also match). */
static void test_decision_sequential_tuning(void **state)
{
    (void)state;
    post_ok("/api/v1/experiments",
            json_pack("{s:s, s:[{s:s}, {s:s}], s:[s], s:f, s:{s:s, s:f}}", "key", "tuned",
                      "variants", "key", "v0", "key", "v1", "metrics", "conv", "sequential_tuning",
                      20000.0, "analysis", "method", "sequential", "alpha", 0.1));
    post_ok("/api/v1/experiments/tuned/start", json_object());
    ingest_binomial_arm("tuned", "conv", 0, 400, 80);
    ingest_binomial_arm("tuned", "conv", 1, 400, 100);
    json_t *res = results("tuned", "cuped=false");
    const json_t *d = json_object_get(res, "decision");
    assert_string_equal(json_string_value(json_object_get(d, "planned_for")), "sequential");
    double p1 = 0.2, p2 = p1 * 1.05;
    int64_t want = 0, dflt = 0;
    struct err err;
    assert_int_equal(stats_power_sequential(p1 * (1 - p1) + p2 * (1 - p2), p2 - p1, 0.1, 20000, 0.8,
                                            &want, &err),
                     0);
    assert_int_equal(stats_power_sequential(p1 * (1 - p1) + p2 * (1 - p2), p2 - p1, 0.05, 5000, 0.8,
                                            &dflt, &err),
                     0);
    assert_true(want != dflt);
    assert_int_equal(json_integer_value(json_object_get(d, "users_needed_per_variant")), want);
    json_decref(res);
}

/* GET .../users: every exposed user once, streamed over several pages, values summing to
 * the roll-ups' sums; NDJSON alike. */
static void test_users_export(void **state)
{
    (void)state;
    struct resp r;
    csv_get("/api/v1/experiments/winner/users?metric=conv",
            "user_id,variant,first_exposure,value,pre_value\r\n", &r);
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
    /* then a breakdown's users_not_recorded and the decision's mde_relative and planned_for,
     * empty on the rows of metrics other than the decision's */
    assert_non_null(strstr(r.body, ",-inf,inf,,,\r\n"));
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_timeseries_power_errors),
        cmocka_unit_test(test_decision_verdict_csv),
        cmocka_unit_test(test_decision_weight_zero),
        cmocka_unit_test(test_decision_decrease),
        cmocka_unit_test(test_decision_no_events),
        cmocka_unit_test(test_decision_rate_one),
        cmocka_unit_test(test_decision_sequential_tuning),
        cmocka_unit_test(test_users_export),
        cmocka_unit_test(test_correction_intervals),
    };
    return cmocka_run_group_tests_name("api_results_decision", tests, setup, teardown);
}
