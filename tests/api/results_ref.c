/*
 * results_ref.c - the helpers of results_ref.h for the results API tests (test_results.c,
 * test_results_decision.c): the scipy/statsmodels fixtures, metrics and experiments made and
 * users ingested over HTTP, results read and compared. Owns the loaded fixtures, the time they
 * were loaded and the borrowed daemon pointer; the test's thread only.
 */
#include "results_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES "tests/fixtures/stats_reference.json"

static struct daemon *cur;
static json_t *fixtures;
static long long now_ms;

int results_ref_use(struct daemon *d)
{
    cur = d;
    json_decref(fixtures);
    fixtures = json_load_file(FIXTURES, 0, NULL);
    now_ms = harness_wall_ms();
    return fixtures != NULL ? 0 : -1;
}

void results_ref_done(void)
{
    json_decref(fixtures);
    fixtures = NULL;
    cur = NULL;
}

long long results_ref_t0(void)
{
    return now_ms - 2LL * 86400000;
}

const json_t *fixture_in(const char *list, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(fixtures, list), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0) {
            return c;
        }
    }
    fail_msg("fixture %s/%s missing", list, name);
    return NULL;
}

const json_t *fixture(const char *name)
{
    return fixture_in("comparisons", name);
}

void post_ok(const char *path, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct resp r;
    assert_int_equal(http_req(cur->port, "POST", path, cur->admin_key, text, &r), 0);
    if (r.status != 200 && r.status != 201) {
        fail_msg("POST %s -> %d %s", path, r.status, r.body);
    }
    resp_free(&r);
    free(text);
}

void make_metric(const char *key, const char *type)
{
    post_ok("/api/v1/metrics", json_pack("{s:s, s:s, s:s, s:n}", "key", key, "event", key, "type",
                                         type, "window_hours"));
}

void make_experiment(const char *key, const char *metric, const double *w, int nv)
{
    json_t *vars = json_array();
    for (int i = 0; i < nv; i++) {
        json_array_append_new(vars, json_pack("{s:s, s:f}", "key", fmt("v%d", i), "weight", w[i]));
    }
    post_ok("/api/v1/experiments",
            json_pack("{s:s, s:o, s:[s]}", "key", key, "variants", vars, "metrics", metric));
    post_ok(fmt("/api/v1/experiments/%s/start", key), json_object());
}

void ingest_binomial_arm(const char *exp, const char *metric, int arm, int n, int s)
{
    long long t0 = results_ref_t0();
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

void csv_get(const char *path, const char *header, struct resp *r)
{
    assert_int_equal(http_req(cur->port, "GET", path, cur->admin_key, NULL, r), 0);
    if (r->status != 200) {
        fail_msg("GET %s -> %d: %s", path, r->status, r->body ? r->body : "");
    }
    char ct[64];
    assert_true(resp_header(r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "text/csv; charset=utf-8");
    assert_int_equal(strncmp(r->body, header, strlen(header)), 0);
}

json_t *results(const char *exp, const char *query)
{
    int st = 0;
    json_t *j = http_json(cur->port, "GET", fmt("/api/v1/experiments/%s/results?%s", exp, query),
                          cur->admin_key, NULL, &st);
    assert_int_equal(st, 200);
    return j;
}

void near(const json_t *got, const json_t *want, const char *what)
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

void near_d(const json_t *got, double want, const char *what)
{
    json_t *w = json_real(want);
    near(got, w, what);
    json_decref(w);
}

const json_t *treatment(const json_t *res, size_t metric, size_t variant)
{
    return json_array_get(
        json_object_get(json_array_get(json_object_get(res, "metrics"), metric), "variants"),
        variant);
}

const json_t *ci(const json_t *v, const char *lift, size_t i)
{
    const json_t *c = json_object_get(json_object_get(v, lift), "ci");
    return json_is_array(c) ? json_array_get(c, i) : json_null();
}

const json_t *timeseries_last(const char *experiment, const char *metric, json_t **ts)
{
    int st;
    *ts = http_json(cur->port, "GET",
                    fmt("/api/v1/experiments/%s/timeseries?metric=%s", experiment, metric),
                    cur->admin_key, NULL, &st);
    assert_int_equal(st, 200);
    json_t *days = json_object_get(*ts, "days");
    assert_true(json_array_size(days) >= 1);
    json_t *last = json_array_get(days, json_array_size(days) - 1);
    return json_array_get(json_object_get(last, "variants"), 1);
}

void make_winner(void)
{
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
}
